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
	"strings"
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
	// Ingredients are the active manifest's ingredients that carried
	// Content Credentials.
	Ingredients []IngredientReport `json:"ingredients,omitempty"`
	Checks      []Check            `json:"checks"`
	binding     string             // the hard-binding assertion's label
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
// otherwise a report with every check. The active manifest is checked in
// full; each ingredient manifest it references is checked against its
// hashed URI and re-verified (signature, assertion hashes), and its recorded
// validation results are reported (see Report.Ingredients).
func Verify(r io.ReaderAt, size int64, o VerifyOptions) (Report, error) {
	rep, _, err := verify(r, size, o)
	return rep, err
}

// verify is Verify, also returning the manifest store's bytes.
func verify(r io.ReaderAt, size int64, o VerifyOptions) (Report, []byte, error) {
	var rep Report
	kind, err := sniff(r, size)
	if err != nil {
		return rep, nil, err
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
		return rep, nil, err
	}
	sum := sha256.Sum256(store)
	rep.StoreSHA256 = hex.EncodeToString(sum[:])
	s, err := parseJUMBF(store)
	if !rep.add("manifest_store", err == nil && s.uuid == uuidStore && s.label == labelStore, "not a C2PA manifest store: %v", err) {
		return rep, store, nil
	}
	var m *node
	for _, c := range s.children {
		if c.typ == jumbType {
			m = c // the active manifest is the last one
		}
	}
	if !rep.add("manifest", m != nil, "the store holds no manifest") {
		return rep, store, nil
	}
	binding, ingredients, ok := rep.checkManifest(s, m, o)
	if !ok {
		return rep, store, nil
	}
	bindingOK := rep.add("hard_binding", binding != nil, "no hard-binding assertion (c2pa.hash.bmff.v2/v3 or c2pa.hash.data)")
	if bindingOK {
		rep.binding = binding.label
		bindingOK = rep.hardBinding(r, size, kind, top, binding, binding.label)
	}
	for _, in := range ingredients {
		rep.ingredient(s, in, o)
	}
	rep.Valid = true
	for _, ch := range rep.Checks {
		// Trust is reported apart: an untrusted signer's file is still intact.
		rep.Valid = rep.Valid && (ch.OK || ch.Name == "certificate.trust")
	}
	return rep, store, nil
}

// checkManifest checks manifest m of store s: its claim, signature and
// every assertion's hash; it fills the report's identity fields and
// returns the hard-binding assertion and the ingredient assertions.
func (rep *Report) checkManifest(s, m *node, o VerifyOptions) (binding *node, ingredients []*node, ok bool) {
	rep.Label = m.label
	claimBox := m.child(labelClaimV2)
	var claimBytes []byte
	if claimBox != nil {
		claimBytes = claimBox.firstContent(cborType)
	}
	var c claimFields
	err := cbor.Unmarshal(claimBytes, &c)
	if !rep.add("claim", claimBox != nil && err == nil, "no readable c2pa.claim.v2: %v", err) {
		return nil, nil, false
	}
	rep.Generator, rep.Title = c.Generator, c.Title
	rep.signature(s, m, c, claimBytes, o)

	refs := append(slices.Clone(c.CreatedAssertions), c.GatheredAssertions...)
	for _, h := range refs {
		target := resolve(s, m, h.URL)
		ok := target != nil && target.payload != nil
		var got [32]byte
		if ok {
			got = sha256.Sum256(target.payload)
			ok = bytes.Equal(got[:], h.Hash)
		}
		if !rep.add("assertion:"+h.URL, ok, "missing, or its hash does not match the claim") {
			continue
		}
		rep.Assertions = append(rep.Assertions, target.label)
		switch {
		case target.label == LabelBMFFHash || target.label == "c2pa.hash.bmff.v2" || target.label == LabelDataHash:
			binding = target
		case target.label == LabelFramebroker:
			var ja JobAssertion
			if cbor.Unmarshal(target.firstContent(cborType), &ja) == nil {
				rep.Framebroker = &ja
			}
		case strings.HasPrefix(target.label, "c2pa.ingredient"):
			ingredients = append(ingredients, target)
		}
	}
	return binding, ingredients, true
}

// IngredientReport is what Verify found about one ingredient that carried
// Content Credentials.
type IngredientReport struct {
	Title string `json:"title,omitempty"`
	// Label is the ingredient's active manifest label.
	Label string `json:"label"`
	// ManifestMatches: the store holds the ingredient's manifest with the
	// hash the ingredient assertion gives.
	ManifestMatches bool `json:"manifest_matches"`
	// Recorded are the failures the output's signer recorded when it
	// validated the ingredient (validationResults): a tampered input shows
	// here, and the output stays valid — its history says so.
	Recorded []Status `json:"recorded_failures"`
	// Found are the failures re-verifying the ingredient's manifest now
	// (signature, assertion hashes); any not among Recorded makes the
	// output invalid.
	Found []Status `json:"found_failures"`
}

// Status is a C2PA validation status.
type Status = status

// ingredientRead is an ingredient assertion (v2 or v3) as read.
type ingredientRead struct {
	Title             string             `cbor:"dc:title"`
	ActiveManifest    *hashedURI         `cbor:"activeManifest"`
	C2PAManifest      *hashedURI         `cbor:"c2pa_manifest"`
	ValidationResults *validationResults `cbor:"validationResults"`
	ValidationStatus  []status           `cbor:"validationStatus"`
}

// ingredient checks one ingredient assertion of the active manifest.
func (rep *Report) ingredient(s, a *node, o VerifyOptions) {
	var in ingredientRead
	if err := cbor.Unmarshal(a.firstContent(cborType), &in); err != nil {
		rep.add("ingredient:"+a.label, false, "unreadable ingredient assertion: %v", err)
		return
	}
	ref := in.ActiveManifest
	if ref == nil {
		ref = in.C2PAManifest
	}
	if ref == nil {
		return // an ingredient without Content Credentials
	}
	ir := IngredientReport{Title: in.Title, Recorded: []Status{}, Found: []Status{}}
	im := resolve(s, nil, ref.URL)
	if im != nil && im.typ == jumbType && im.uuid == uuidManifest {
		sum := sha256.Sum256(im.payload)
		ir.Label, ir.ManifestMatches = im.label, bytes.Equal(sum[:], ref.Hash)
	}
	rep.add("ingredient:"+a.label, ir.ManifestMatches, "the store does not hold the ingredient's manifest %s with the hash the ingredient assertion gives", ref.URL)
	if in.ValidationResults != nil {
		ir.Recorded = append(ir.Recorded, in.ValidationResults.ActiveManifest.Failure...)
	}
	for _, st := range in.ValidationStatus { // v2: one list
		if strings.Contains(st.Code, "mismatch") || strings.Contains(st.Code, "missing") || strings.Contains(st.Code, "untrusted") || strings.Contains(st.Code, "invalid") {
			ir.Recorded = append(ir.Recorded, st)
		}
	}
	if ir.ManifestMatches {
		var sub Report
		if _, _, ok := sub.checkManifest(s, im, o); ok || len(sub.Checks) > 0 {
			for _, f := range results(sub, im.label).ActiveManifest.Failure {
				ir.Found = append(ir.Found, f)
				if f.Code == "signingCredential.untrusted" {
					continue
				}
				recorded := slices.ContainsFunc(ir.Recorded, func(r Status) bool { return r.Code == f.Code })
				rep.add("ingredient:"+a.label+":"+f.Code, recorded, "re-verifying the ingredient's manifest: %s (%s), not in its recorded validation results", f.Code, f.Explanation)
			}
		}
	}
	rep.Ingredients = append(rep.Ingredients, ir)
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
