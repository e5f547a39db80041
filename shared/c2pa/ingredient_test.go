package c2pa

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/c2pa/c2patest"
)

// TestIngredientWithCredentials uses a sealed output as the input of
// another job: the new output's store carries the input's manifest, the
// ingredient assertion references it (activeManifest, claimSignature,
// validationResults) and the reference reader validates the ingredient
// (ingredient.manifest.validated). A tampered input — a media byte, or a
// byte of its claim — is carried with its failure recorded, which the
// reference reader shows and Framebroker's verifier reports; a carried
// manifest altered inside the output fails both.
func TestIngredientWithCredentials(t *testing.T) {
	mp4, _ := fixtures(t)
	s, _ := testSigner(t)
	var first bytes.Buffer
	if _, err := EmbedBMFF(bytes.NewReader(mp4), int64(len(mp4)), &first, testManifest(), s); err != nil {
		t.Fatal(err)
	}
	sealed := first.Bytes()
	mediaFlipped := bytes.Clone(sealed)
	mediaFlipped[len(mediaFlipped)-1] ^= 1
	assertionFlipped := bytes.Clone(sealed) // the job assertion's output name
	assertionFlipped[bytes.Index(assertionFlipped, []byte("output.mp4"))] ^= 1
	claimFlipped := bytes.Clone(sealed) // the claim's instance id
	claimFlipped[bytes.Index(claimFlipped, []byte("xmp:iid:"))+10] ^= 1

	for _, tc := range []struct {
		name    string
		input   []byte
		failure string // the failure the ingredient must carry, "" for none
	}{
		{"sealed", sealed, ""},
		{"media flipped", mediaFlipped, "assertion.bmffHash.mismatch"},
		{"assertion flipped", assertionFlipped, "assertion.hashedURI.mismatch"},
		{"claim flipped", claimFlipped, "claimSignature.mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, err := ReadIngredient(bytes.NewReader(tc.input), int64(len(tc.input)), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m := testManifest()
			in := Ingredient{Title: "in.mp4", Format: "video/mp4", Asset: "ast_1", SHA256: strings.Repeat("ab", 32), Credentials: ic}
			m = TranscodeManifest("output.mp4", m.Generator, "", in, JobAssertion{Job: "job_2", Output: "output.mp4"})
			var out bytes.Buffer
			if _, err := EmbedBMFF(bytes.NewReader(mp4), int64(len(mp4)), &out, m, s); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(bytes.NewReader(out.Bytes()), int64(out.Len()), VerifyOptions{})
			if err != nil || !rep.Valid || len(rep.Ingredients) != 1 {
				t.Fatalf("Framebroker verifier: %v valid=%v %+v %+v", err, rep.Valid, rep.Ingredients, rep.Checks)
			}
			got := rep.Ingredients[0]
			codes := func(ss []Status) []string {
				var out []string
				for _, s := range ss {
					out = append(out, s.Code)
				}
				return out
			}
			if !got.ManifestMatches || got.Label != ic.Label() || (tc.failure == "") != (len(got.Recorded) == 0) ||
				(tc.failure != "" && !slices.Contains(codes(got.Recorded), tc.failure)) {
				t.Fatalf("ingredient report %+v; want label %s, recorded failure %q", got, ic.Label(), tc.failure)
			}

			ref := c2patest.Read(t, "video/mp4", out.Bytes(), nil)
			if ref.Error != "" || len(ref.Manifests) != 2 {
				t.Fatalf("reference reader: %s, %d manifests\n%s", ref.Error, len(ref.Manifests), ref.Raw)
			}
			if !strings.Contains(ref.Raw, `"ingredient.manifest.validated"`) {
				t.Errorf("the reference reader did not validate the ingredient's manifest\n%s", ref.Raw)
			}
			recorded := ingredientFailures(t, ref, ref.ActiveManifest)
			if tc.failure == "" {
				if ref.ValidationState != "Valid" || !ref.OK() || len(recorded) != 0 {
					t.Fatalf("reference reader: %q %v, ingredient failures %v\n%s", ref.ValidationState, ref.Failures(), recorded, ref.Raw)
				}
				return
			}
			// The ingredient's failure is on record in the output, not hidden.
			if !slices.Contains(recorded, tc.failure) {
				t.Errorf("the reference reader shows ingredient failures %v; want %s\n%s", recorded, tc.failure, ref.Raw)
			}
			t.Logf("reference reader on an output of a %s input: %s, failures %v", tc.name, ref.ValidationState, ref.Failures())
		})
	}

	t.Run("carried manifest altered in the output", func(t *testing.T) {
		ic, err := ReadIngredient(bytes.NewReader(sealed), int64(len(sealed)), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := TranscodeManifest("second.mp4", Generator{Name: "Framebroker"}, "", Ingredient{Title: "in.mp4", Format: "video/mp4", Asset: "a", SHA256: "00", Credentials: ic}, JobAssertion{})
		var out bytes.Buffer
		if _, err := EmbedBMFF(bytes.NewReader(mp4), int64(len(mp4)), &out, m, s); err != nil {
			t.Fatal(err)
		}
		bad := out.Bytes()
		// "output.mp4" is the first manifest's (the carried one's) title;
		// the new manifest's is "second.mp4".
		bad[bytes.Index(bad, []byte("output.mp4"))] ^= 1
		if rep, err := Verify(bytes.NewReader(bad), int64(len(bad)), VerifyOptions{}); err == nil && rep.Valid {
			t.Error("Framebroker's verifier accepts an output whose carried ingredient manifest was altered")
		}
		if ref := c2patest.Read(t, "video/mp4", bad, nil); ref.OK() && ref.ValidationState != "Invalid" {
			t.Errorf("the reference reader accepts it: %q\n%s", ref.ValidationState, ref.Raw)
		}
	})
}

// ingredientFailures returns the failure codes recorded in the validation
// results of the ingredients of manifest label, as the reference reader
// shows them.
func ingredientFailures(t *testing.T, ref c2patest.Report, label string) []string {
	t.Helper()
	var m struct {
		Ingredients []struct {
			ValidationResults struct {
				ActiveManifest struct {
					Failure []c2patest.Status `json:"failure"`
				} `json:"activeManifest"`
			} `json:"validation_results"`
		} `json:"ingredients"`
	}
	if err := json.Unmarshal(ref.Manifests[label], &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range m.Ingredients {
		for _, f := range in.ValidationResults.ActiveManifest.Failure {
			out = append(out, f.Code)
		}
	}
	return out
}
