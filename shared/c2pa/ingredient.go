package c2pa

import (
	"crypto/sha256"
	"io"
	"strings"
)

// IngredientCredentials are the Content Credentials an ingredient (the
// job's input) carried: its manifest store as read, and what Verify found
// in the ingredient file. TranscodeManifest carries the store's manifests
// into the output's store and references the ingredient's active manifest
// and claim signature from the ingredient assertion, with validationResults
// derived from the report — failures included: a tampered input is
// recorded as such, not dropped.
type IngredientCredentials struct {
	Report Report
	// manifests are the ingredient store's manifest superboxes (whole
	// boxes), the active one last.
	manifests [][]byte
	active    *node // the active manifest, parsed
}

// ReadIngredient reads and verifies the Content Credentials of an
// ingredient file (ISO BMFF or JPEG): ErrNoManifest when it has none, an
// error wrapping ErrFormat when it cannot be parsed. A store that parses but
// fails verification is returned with the failures in its report.
func ReadIngredient(r io.ReaderAt, size int64, o VerifyOptions) (*IngredientCredentials, error) {
	rep, store, err := verify(r, size, o)
	if err != nil {
		return nil, err
	}
	s, err := parseJUMBF(store)
	if err != nil || s.uuid != uuidStore || s.label != labelStore {
		return nil, formatErr("the ingredient's manifest store is not readable")
	}
	ic := &IngredientCredentials{Report: rep}
	for _, c := range s.children {
		if c.typ == jumbType {
			ic.manifests = append(ic.manifests, c.raw)
			ic.active = c
		}
	}
	if ic.active == nil || ic.active.child(labelSignature) == nil {
		return nil, formatErr("the ingredient's manifest store holds no signed manifest")
	}
	return ic, nil
}

// Label is the ingredient's active manifest label.
func (ic *IngredientCredentials) Label() string { return ic.active.label }

// manifestURI is the absolute JUMBF URI of a manifest (c2pa-rs
// to_manifest_uri), and signatureURI that of its claim signature.
func manifestURI(label string) string  { return "self#jumbf=/" + labelStore + "/" + label }
func signatureURI(label string) string { return manifestURI(label) + "/" + labelSignature }

// refs returns the hashed URIs of the ingredient's active manifest (the
// hash of the manifest superbox's payload, c2pa-rs calc_manifest_box_hash)
// and of its claim signature box (calc_sig_box_hash).
func (ic *IngredientCredentials) refs() (manifest, signature hashedURI) {
	m := sha256.Sum256(ic.active.payload)
	sg := sha256.Sum256(ic.active.child(labelSignature).payload)
	return hashedURI{URL: manifestURI(ic.active.label), Alg: "sha256", Hash: m[:]},
		hashedURI{URL: signatureURI(ic.active.label), Alg: "sha256", Hash: sg[:]}
}

// validationResults is the C2PA validation-results-map of an ingredient
// (C2PA 2.x §15.11; c2pa-rs validation_results.rs).
type validationResults struct {
	ActiveManifest statusCodes `cbor:"activeManifest"`
}

type statusCodes struct {
	Success       []status `cbor:"success"`
	Informational []status `cbor:"informational"`
	Failure       []status `cbor:"failure"`
}

type status struct {
	Code        string `cbor:"code" json:"code"`
	URL         string `cbor:"url,omitempty" json:"url,omitempty"`
	Explanation string `cbor:"explanation,omitempty" json:"explanation,omitempty"`
}

// results maps a report's checks to C2PA status codes, with absolute URIs
// into the manifest labelled label.
func results(rep Report, label string) validationResults {
	abs := func(u string) string {
		if p, ok := strings.CutPrefix(u, "self#jumbf="); ok && !strings.HasPrefix(p, "/") {
			return manifestURI(label) + "/" + p
		}
		return u
	}
	var v validationResults
	add := func(ok bool, good, bad, url, why string) {
		if ok {
			v.ActiveManifest.Success = append(v.ActiveManifest.Success, status{Code: good, URL: url})
		} else {
			v.ActiveManifest.Failure = append(v.ActiveManifest.Failure, status{Code: bad, URL: url, Explanation: why})
		}
	}
	sig := signatureURI(label)
	for _, c := range rep.Checks {
		switch name := c.Name; {
		case name == "signature":
			add(c.OK, "claimSignature.validated", "claimSignature.mismatch", sig, c.Detail)
		case name == "signature.box":
			add(c.OK, "", "claimSignature.missing", sig, c.Detail)
		case strings.HasPrefix(name, "signature."):
			add(c.OK, "", "claimSignature.mismatch", sig, c.Detail)
		case name == "certificate.validity":
			add(c.OK, "claimSignature.insideValidity", "claimSignature.outsideValidity", sig, c.Detail)
		case name == "certificate.profile":
			add(c.OK, "", "signingCredential.invalid", sig, c.Detail)
		case name == "certificate.trust":
			add(c.OK, "signingCredential.trusted", "signingCredential.untrusted", sig, c.Detail)
		case strings.HasPrefix(name, "assertion:"):
			add(c.OK, "assertion.hashedURI.match", "assertion.hashedURI.mismatch", abs(strings.TrimPrefix(name, "assertion:")), c.Detail)
		case name == "hard_binding":
			add(c.OK, "", "claim.hardBindings.missing", manifestURI(label), c.Detail)
		case name == "hard_binding.bmff_hash":
			add(c.OK, "assertion.bmffHash.match", "assertion.bmffHash.mismatch", manifestURI(label)+"/"+labelAssertions+"/"+rep.binding, c.Detail)
		case name == "hard_binding.data_hash":
			add(c.OK, "assertion.dataHash.match", "assertion.dataHash.mismatch", manifestURI(label)+"/"+labelAssertions+"/"+rep.binding, c.Detail)
		case strings.HasPrefix(name, "ingredient"):
			add(c.OK, "ingredient.manifest.validated", "ingredient.manifest.mismatch", manifestURI(label), c.Detail)
		default:
			add(c.OK, "", "claim.malformed", manifestURI(label), c.Detail)
		}
	}
	// success entries without a code are checks C2PA has no success code for
	v.ActiveManifest.Success = dropEmpty(v.ActiveManifest.Success)
	if v.ActiveManifest.Success == nil {
		v.ActiveManifest.Success = []status{}
	}
	v.ActiveManifest.Informational = []status{}
	if v.ActiveManifest.Failure == nil {
		v.ActiveManifest.Failure = []status{}
	}
	return v
}

func dropEmpty(s []status) []status {
	var out []status
	for _, x := range s {
		if x.Code != "" {
			out = append(out, x)
		}
	}
	return out
}

// IngredientFailures are the failures of an ingredient's report as C2PA
// status codes (what its validationResults record), apart from an
// untrusted signer.
func IngredientFailures(rep Report) []Status {
	var out []Status
	for _, f := range results(rep, rep.Label).ActiveManifest.Failure {
		if f.Code != "signingCredential.untrusted" {
			out = append(out, f)
		}
	}
	return out
}
