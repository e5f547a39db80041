package c2pa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// oidDocumentSigning is id-kp-documentSigning (RFC 9336), one of the
// extended key usages C2PA accepts for claim signers (c2pa-rs
// valid_eku_oids.cfg).
var oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// CA issues claim-signing certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PEM is the CA certificate in PEM: what a verifier adds to its trust
// anchors.
func (ca CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func serial(parts ...[]byte) *big.Int {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return new(big.Int).SetBytes(h.Sum(nil)[:16])
}

// NewCA returns a self-signed root for key, valid from notBefore for 20
// years. With an Ed25519 key the certificate is deterministic: the same key,
// name and time give the same bytes, so the root need not be stored.
func NewCA(key crypto.Signer, commonName string, notBefore time.Time) (CA, error) {
	ski, err := keyID(key.Public())
	if err != nil {
		return CA{}, fmt.Errorf("c2pa: ca key: %w", err)
	}
	notBefore = notBefore.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(ski, []byte(commonName), []byte(notBefore.Format(time.RFC3339))),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Framebroker"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return CA{}, fmt.Errorf("c2pa: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return CA{}, err
	}
	return CA{Cert: cert, Key: key}, nil
}

// Issue returns a claim-signing (end-entity) certificate for pub, meeting
// the C2PA certificate profile (C2PA 2.x §14.5.1): v3, digitalSignature
// key usage, the emailProtection and documentSigning extended key usages, authority and subject
// key identifiers, not a CA.
func (ca CA) Issue(pub crypto.PublicKey, subject pkix.Name, notBefore, notAfter time.Time) ([]byte, error) {
	ski, err := keyID(pub)
	if err != nil {
		return nil, fmt.Errorf("c2pa: signer key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(ski, []byte(subject.String()), []byte(notBefore.UTC().Format(time.RFC3339Nano))),
		Subject:      subject,
		NotBefore:    notBefore.UTC().Truncate(time.Second),
		NotAfter:     notAfter.UTC().Truncate(time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// emailProtection is what current readers accept; documentSigning
		// is the usage C2PA 2.x names for document signers.
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{oidDocumentSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("c2pa: signer certificate: %w", err)
	}
	return der, nil
}

// DeriveP256 derives a P-256 private key from secret and info (HKDF-SHA256;
// a candidate outside [1, n-1] is rejected and the next one tried), so a
// workspace's signing key is a function of the keyring and never stored.
func DeriveP256(secret []byte, info string) (*ecdsa.PrivateKey, error) {
	if len(secret) < 32 {
		return nil, errors.New("c2pa: key derivation secret shorter than 32 bytes")
	}
	for i := 0; i < 16; i++ {
		d, err := hkdf.Key(sha256.New, secret, nil, fmt.Sprintf("%s#%d", info, i), 32)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err == nil {
			return k, nil
		}
	}
	return nil, errors.New("c2pa: no valid P-256 key derived")
}
