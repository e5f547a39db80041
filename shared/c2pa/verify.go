package c2pa

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// MaxStore bounds an embedded manifest store accepted for verification.
const MaxStore = 16 << 20

// ErrNoManifest is returned when a file carries no Content Credentials.
var ErrNoManifest = errors.New("c2pa: no manifest store in the file")

// Check is one named verification step.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is what Verify found in a file.
type Report struct {
	// Valid: the signature, every assertion hash and the hard binding
	// check out (the signer may still be untrusted; see Trusted).
	Valid bool `json:"valid"`
	// Trusted: the signing certificate chains to one of the given roots.
	Trusted     bool      `json:"trusted"`
	Label       string    `json:"label,omitempty"`
	StoreSHA256 string    `json:"manifest_sha256,omitempty"`
	Signer      string    `json:"signer,omitempty"`
	Issuer      string    `json:"issuer,omitempty"`
	Generator   Generator `json:"claim_generator,omitempty"`
	Title       string    `json:"title,omitempty"`
	Assertions  []string  `json:"assertions,omitempty"`
	// Framebroker is the com.framebroker.job assertion, when present.
	Framebroker *JobAssertion `json:"framebroker,omitempty"`
	Checks      []Check       `json:"checks"`
}

func (r *Report) add(name string, ok bool, format string, args ...any) bool {
	c := Check{Name: name, OK: ok}
	if !ok {
		c.Detail = fmt.Sprintf(format, args...)
	}
	r.Checks = append(r.Checks, c)
	return ok
}

// VerifyOptions are what a verifier trusts.
type VerifyOptions struct {
	// Roots are trust anchors for the signing certificate; nil: none
	// (Trusted stays false).
	Roots *x509.CertPool
	// Now is the time certificates are checked at (zero: time.Now()).
	Now time.Time
	// TrustLeaf, when set, is another way to trust the signer: nil if it
	// vouches for the signing certificate (for example, issued by one of a
	// service's published keys).
	TrustLeaf func(leaf *x509.Certificate) error
}

// claimFields is a v2 claim as read (gathered assertions included).
type claimFields struct {
	claimV2
	GatheredAssertions []hashedURI `cbor:"gathered_assertions"`
}

// Verify reads the Content Credentials embedded in the file r (size bytes;
// ISO BMFF or JPEG, told apart by their first bytes) and checks them:
// ErrNoManifest if there are none, an error for a file it cannot parse, and
// otherwise a report with every check. Only the active manifest is checked.
func Verify(r io.ReaderAt, size int64, o VerifyOptions) (Report, error) {
	var rep Report
	kind, err := sniff(r, size)
	if err != nil {
		return rep, err
	}
	var store []byte
	var top []box
	switch kind {
	case kindBMFF:
		top, store, err = bmffStore(r, size)
	case kindJPEG:
		store, err = jpegStore(r, size)
	}
	if err != nil {
		return rep, err
	}
	sum := sha256.Sum256(store)
	rep.StoreSHA256 = hex.EncodeToString(sum[:])
	s, err := parseJUMBF(store)
	if !rep.add("manifest_store", err == nil && s.uuid == uuidStore && s.label == labelStore, "not a C2PA manifest store: %v", err) {
		return rep, nil
	}
	var m *node
	for _, c := range s.children {
		if c.typ == jumbType {
			m = c // the active manifest is the last one
		}
	}
	if !rep.add("manifest", m != nil, "the store holds no manifest") {
		return rep, nil
	}
	rep.Label = m.label
	claimBox := m.child(labelClaimV2)
	var claimBytes []byte
	if claimBox != nil {
		claimBytes = claimBox.firstContent(cborType)
	}
	var c claimFields
	err = cbor.Unmarshal(claimBytes, &c)
	if !rep.add("claim", claimBox != nil && err == nil, "no readable c2pa.claim.v2: %v", err) {
		return rep, nil
	}
	rep.Generator, rep.Title = c.Generator, c.Title
	sigOK := rep.signature(s, m, c, claimBytes, o)

	refs := append(slices.Clone(c.CreatedAssertions), c.GatheredAssertions...)
	var binding *node
	var bindingLabel string
	assertionsOK := true
	for _, h := range refs {
		target := resolve(s, m, h.URL)
		ok := target != nil && target.payload != nil
		var got [32]byte
		if ok {
			got = sha256.Sum256(target.payload)
			ok = bytes.Equal(got[:], h.Hash)
		}
		if !rep.add("assertion:"+h.URL, ok, "missing, or its hash does not match the claim") {
			assertionsOK = false
			continue
		}
		rep.Assertions = append(rep.Assertions, target.label)
		switch target.label {
		case LabelBMFFHash, "c2pa.hash.bmff.v2", LabelDataHash:
			binding, bindingLabel = target, target.label
		case LabelFramebroker:
			var ja JobAssertion
			if cbor.Unmarshal(target.firstContent(cborType), &ja) == nil {
				rep.Framebroker = &ja
			}
		}
	}
	bindingOK := rep.add("hard_binding", binding != nil, "no hard-binding assertion (c2pa.hash.bmff.v2/v3 or c2pa.hash.data)")
	if bindingOK {
		bindingOK = rep.hardBinding(r, size, kind, top, binding, bindingLabel)
	}
	rep.Valid = sigOK && assertionsOK && bindingOK
	for _, ch := range rep.Checks {
		// Trust is reported apart: an untrusted signer's file is still intact.
		rep.Valid = rep.Valid && (ch.OK || ch.Name == "certificate.trust")
	}
	return rep, nil
}

func (rep *Report) signature(s, m *node, c claimFields, claim []byte, o VerifyOptions) bool {
	sigBox := m.child(labelSignature)
	if !rep.add("signature.box", sigBox != nil && resolve(s, m, c.Signature) == sigBox, "the claim's signature reference %q does not name this manifest's signature box", c.Signature) {
		return false
	}
	var msg cose.Sign1Message
	err := msg.UnmarshalCBOR(sigBox.firstContent(cborType))
	if !rep.add("signature.cose", err == nil, "not a COSE_Sign1_Tagged: %v", err) {
		return false
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if !rep.add("signature.alg", err == nil && (alg == cose.AlgorithmES256 || alg == cose.AlgorithmEdDSA || alg == cose.AlgorithmES384), "unsupported algorithm: %v", err) {
		return false
	}
	chain, err := x5chain(msg.Headers.Protected[cose.HeaderLabelX5Chain])
	if !rep.add("signature.x5chain", err == nil, "no certificate chain in the protected header: %v", err) {
		return false
	}
	leaf := chain[0]
	rep.Signer, rep.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	verifier, err := cose.NewVerifier(alg, leaf.PublicKey)
	if err == nil {
		msg.Payload = claim
		err = msg.Verify(nil, verifier)
	}
	if !rep.add("signature", err == nil, "the claim signature does not verify with the signing certificate: %v", err) {
		return false
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	rep.add("certificate.validity", !now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter), "certificate valid %s to %s", leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	err = CheckSignerProfile(leaf)
	rep.add("certificate.profile", err == nil, "%v", err)
	if o.Roots != nil || o.TrustLeaf != nil {
		var errs []error
		if o.Roots != nil {
			inter := x509.NewCertPool()
			for _, c := range chain[1:] {
				inter.AddCert(c)
			}
			_, err := leaf.Verify(x509.VerifyOptions{Roots: o.Roots, Intermediates: inter, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			rep.Trusted = rep.Trusted || err == nil
			errs = append(errs, err)
		}
		if o.TrustLeaf != nil {
			err := o.TrustLeaf(leaf)
			rep.Trusted = rep.Trusted || err == nil
			errs = append(errs, err)
		}
		rep.add("certificate.trust", rep.Trusted, "the signer is not trusted: %v", errors.Join(errs...))
	}
	return true
}

func x5chain(v any) ([]*x509.Certificate, error) {
	var ders [][]byte
	switch t := v.(type) {
	case []byte:
		ders = [][]byte{t}
	case []any:
		for _, e := range t {
			b, ok := e.([]byte)
			if !ok {
				return nil, errors.New("x5chain entry is not a byte string")
			}
			ders = append(ders, b)
		}
	default:
		return nil, errors.New("x5chain missing")
	}
	if len(ders) == 0 || len(ders) > 8 {
		return nil, errors.New("x5chain holds no or too many certificates")
	}
	var out []*x509.Certificate
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (rep *Report) hardBinding(r io.ReaderAt, size int64, kind fileKind, top []box, b *node, label string) bool {
	switch label {
	case LabelDataHash:
		var dh dataHash
		err := cbor.Unmarshal(b.firstContent(cborType), &dh)
		if !rep.add("hard_binding.decode", err == nil && (dh.Alg == "" || dh.Alg == "sha256"), "unreadable or non-sha256 data hash: %v", err) {
			return false
		}
		got, err := dataDigest(r, size, dh.Exclusions)
		return rep.add("hard_binding.data_hash", err == nil && bytes.Equal(got, dh.Hash), "the file's bytes do not match the data hash%s", errSuffix(err))
	default:
		if !rep.add("hard_binding.format", kind == kindBMFF, "a BMFF hash on a file that is not ISO BMFF") {
			return false
		}
		var bh bmffHash
		err := cbor.Unmarshal(b.firstContent(cborType), &bh)
		if !rep.add("hard_binding.decode", err == nil && (bh.Alg == "" || bh.Alg == "sha256") && bh.Merkle == nil, "unreadable, non-sha256 or Merkle-tree BMFF hash: %v", err) {
			return false
		}
		got, err := bmffDigest(r, top, bh.Exclusions)
		return rep.add("hard_binding.bmff_hash", err == nil && bytes.Equal(got, bh.Hash), "the file's boxes do not match the BMFF hash%s", errSuffix(err))
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

type fileKind int

const (
	kindBMFF fileKind = iota + 1
	kindJPEG
)

func sniff(r io.ReaderAt, size int64) (fileKind, error) {
	var h [8]byte
	if size < 8 {
		return 0, formatErr("file too short")
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, err
	}
	switch {
	case h[0] == 0xFF && h[1] == 0xD8:
		return kindJPEG, nil
	case string(h[4:8]) == "ftyp":
		return kindBMFF, nil
	}
	return 0, formatErr("neither ISO BMFF nor JPEG")
}

// bmffStore returns the top-level boxes and the manifest store of the one
// C2PA uuid box with purpose "manifest".
func bmffStore(r io.ReaderAt, size int64) ([]box, []byte, error) {
	top, err := readBoxes(r, 0, size)
	if err != nil {
		return nil, nil, err
	}
	var store []byte
	for _, b := range top {
		if !isC2PABox(r, b) {
			continue
		}
		p := b.payloadStart() + 16 + 4 // extended type, version and flags
		n := b.end() - p
		if n > MaxStore+64 {
			return nil, nil, formatErr("manifest box larger than %d bytes", MaxStore)
		}
		body := make([]byte, n)
		if _, err := r.ReadAt(body, p); err != nil {
			return nil, nil, err
		}
		purpose, rest, ok := bytes.Cut(body, []byte{0})
		if !ok {
			return nil, nil, formatErr("C2PA box purpose is not terminated")
		}
		if string(purpose) != purposeManifest {
			continue
		}
		if len(rest) < 8 {
			return nil, nil, formatErr("C2PA box too short")
		}
		if store != nil {
			return nil, nil, formatErr("more than one C2PA manifest box")
		}
		store = rest[8:]
	}
	if store == nil {
		return nil, nil, ErrNoManifest
	}
	return top, store, nil
}

// CheckSignerProfile checks the parts of the C2PA claim-signer certificate
// profile (C2PA 2.x §14.5.1) readers refuse most often: an end entity with
// the digitalSignature key usage and the emailProtection or documentSigning
// extended key usage, and not the "any" usage.
func CheckSignerProfile(leaf *x509.Certificate) error {
	usage := slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageEmailProtection)
	for _, u := range leaf.UnknownExtKeyUsage {
		usage = usage || u.Equal(oidDocumentSigning)
	}
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 || !usage || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return errors.New("not a C2PA claim-signing certificate (want an end entity with digitalSignature and the emailProtection or documentSigning extended key usage)")
	}
	return nil
}
