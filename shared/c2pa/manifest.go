package c2pa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"
	"github.com/veraison/go-cose"
)

// Assertion labels written here (C2PA 2.x §18; c2pa-rs assertions/labels.rs).
const (
	LabelActions    = "c2pa.actions.v2"
	LabelIngredient = "c2pa.ingredient.v3"
	LabelBMFFHash   = "c2pa.hash.bmff.v3"
	LabelDataHash   = "c2pa.hash.data"
	// LabelFramebroker is Framebroker's own assertion: the job, its trail
	// and the workspace ledger head the output is bound to.
	LabelFramebroker = "com.framebroker.job"
)

// Assertion is one assertion: a label and a value encoded as CBOR.
type Assertion struct {
	Label string
	Data  any
}

// Generator names the software that made the claim.
type Generator struct {
	Name    string `cbor:"name" json:"name"`
	Version string `cbor:"version,omitempty" json:"version,omitempty"`
}

// Manifest is what a claim says about one output, apart from the hard
// binding, which the embedder adds.
type Manifest struct {
	// Title is the output's name (dc:title).
	Title      string
	Generator  Generator
	Assertions []Assertion
	// ingredients are ingredients' manifest superboxes carried into the
	// store ahead of this manifest (which is the active one, last).
	ingredients [][]byte
}

// Signer signs claims: an ES256 (P-256) or Ed25519 key and its X.509
// chain, end-entity certificate first (DER), carried in the COSE protected
// header (x5chain).
type Signer struct {
	Key   crypto.Signer
	Chain [][]byte
}

func (s Signer) alg() (cose.Algorithm, error) {
	switch k := s.Key.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return cose.AlgorithmES256, nil
		}
	case ed25519.PublicKey:
		return cose.AlgorithmEdDSA, nil
	}
	return 0, errors.New("c2pa: the signing key must be ECDSA P-256 or Ed25519")
}

// hashedURI is a C2PA hashed-uri-map.
type hashedURI struct {
	URL  string `cbor:"url"`
	Alg  string `cbor:"alg,omitempty"`
	Hash []byte `cbor:"hash"`
}

// claimV2 is the C2PA v2 claim (c2pa-rs claim.rs serialize_v2).
type claimV2 struct {
	InstanceID        string      `cbor:"instanceID"`
	Generator         Generator   `cbor:"claim_generator_info"`
	Signature         string      `cbor:"signature"`
	CreatedAssertions []hashedURI `cbor:"created_assertions"`
	Title             string      `cbor:"dc:title,omitempty"`
	Alg               string      `cbor:"alg"`
}

var encMode = func() cbor.EncMode {
	m, err := cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// storeParts are the encoded pieces of a single-manifest store.
type built struct {
	store       []byte // the whole JUMBF manifest store
	label       string // urn:c2pa:…
	claim       []byte
	certificate *x509.Certificate
}

// build encodes the manifest store for m plus the hard-binding assertion
// binding, signed by s.
func build(label string, m Manifest, binding Assertion, s Signer) (built, error) {
	alg, err := s.alg()
	if err != nil {
		return built{}, err
	}
	if len(s.Chain) == 0 {
		return built{}, errors.New("c2pa: signer without a certificate")
	}
	cert, err := x509.ParseCertificate(s.Chain[0])
	if err != nil {
		return built{}, fmt.Errorf("c2pa: signing certificate: %w", err)
	}
	all := append([]Assertion{binding}, m.Assertions...)
	var boxes [][]byte
	var refs []hashedURI
	byLabel := map[string]hashedURI{}
	for _, a := range all {
		v := a.Data
		if ac, ok := v.(actions); ok {
			if v, err = ac.withRefs(byLabel); err != nil {
				return built{}, err
			}
		}
		data, err := encMode.Marshal(v)
		if err != nil {
			return built{}, fmt.Errorf("c2pa: assertion %s: %w", a.Label, err)
		}
		payload := superBoxPayload(uuidCBOR, a.Label, appendBox(nil, cborType, data))
		sum := sha256.Sum256(payload)
		ref := hashedURI{URL: "self#jumbf=" + labelAssertions + "/" + a.Label, Hash: sum[:]}
		refs = append(refs, ref)
		byLabel[a.Label] = ref
		boxes = append(boxes, appendBox(nil, jumbType, payload))
	}
	c := claimV2{
		InstanceID:        "xmp:iid:" + uuid.NewString(),
		Generator:         m.Generator,
		Signature:         "self#jumbf=/" + labelStore + "/" + label + "/" + labelSignature,
		CreatedAssertions: refs,
		Title:             m.Title,
		Alg:               "sha256",
	}
	claim, err := encMode.Marshal(c)
	if err != nil {
		return built{}, fmt.Errorf("c2pa: claim: %w", err)
	}
	sig, err := signClaim(claim, alg, s)
	if err != nil {
		return built{}, err
	}
	manifest := superBox(uuidManifest, label,
		superBox(uuidAssertions, labelAssertions, boxes...),
		superBox(uuidClaim, labelClaimV2, appendBox(nil, cborType, claim)),
		superBox(uuidSignature, labelSignature, appendBox(nil, cborType, sig)),
	)
	manifests := append(slices.Clone(m.ingredients), manifest)
	return built{store: superBox(uuidStore, labelStore, manifests...), label: label, claim: claim, certificate: cert}, nil
}

// signClaim returns the COSE_Sign1_Tagged signature of claim with a
// detached payload: alg and x5chain in the protected header (C2PA 2.x
// §14.2; c2pa-rs cose/sign.rs), an empty unprotected header (no time-stamp
// authority is configured; see the package README section).
func signClaim(claim []byte, alg cose.Algorithm, s Signer) ([]byte, error) {
	signer, err := cose.NewSigner(alg, s.Key)
	if err != nil {
		return nil, fmt.Errorf("c2pa: %w", err)
	}
	var chain any = s.Chain[0]
	if len(s.Chain) > 1 {
		arr := make([]any, len(s.Chain))
		for i, c := range s.Chain {
			arr[i] = c
		}
		chain = arr
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected[cose.HeaderLabelAlgorithm] = alg
	msg.Headers.Protected[cose.HeaderLabelX5Chain] = chain
	msg.Payload = claim
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("c2pa: sign claim: %w", err)
	}
	msg.Payload = nil // detached: the claim is in its own box
	return msg.MarshalCBOR()
}

// newLabel is a fresh manifest label.
func newLabel() string { return "urn:c2pa:" + uuid.NewString() }
