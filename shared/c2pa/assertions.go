package c2pa

import "fmt"

// JobAssertion is the com.framebroker.job assertion: it binds an output to
// the encode job that made it, the job's audit trail as it stood when the
// output was verified, and the workspace's ledger head at that moment.
type JobAssertion struct {
	Workspace string `cbor:"workspace" json:"workspace"`
	Job       string `cbor:"job" json:"job"`
	Attempt   int    `cbor:"attempt" json:"attempt"`
	Preset    string `cbor:"preset" json:"preset"`
	Output    string `cbor:"output" json:"output"`
	// WorkerSHA256 is the SHA-256 of the output as the worker wrote it
	// (before the credentials were embedded), as the trail records it.
	WorkerSHA256 string `cbor:"worker_sha256" json:"worker_sha256"`
	// TrailSHA256 is the SHA-256 of the job's trail (RFC 8785 lines, as GET
	// …/jobs/{job}/trail recomputes it) before the "verified" entry.
	TrailSHA256 string `cbor:"trail_sha256" json:"trail_sha256"`
	// LedgerSeq and LedgerHead are the workspace ledger's head.
	LedgerSeq  int64      `cbor:"ledger_seq" json:"ledger_seq"`
	LedgerHead string     `cbor:"ledger_head" json:"ledger_head"`
	Inputs     []JobInput `cbor:"inputs" json:"inputs"`
}

// JobInput is one input of the job.
type JobInput struct {
	Asset  string `cbor:"asset" json:"asset"`
	SHA256 string `cbor:"sha256" json:"sha256"`
}

// Digital source types (IPTC) a workspace may declare for its media.
const (
	SourceTrainedAlgorithmic   = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
	SourceCompositeSynthetic   = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
	SourceCompositeWithTrained = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
	SourceDigitalCapture       = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
)

// Ingredient describes the job's input for c2pa.ingredient.v3.
type Ingredient struct {
	Title  string
	Format string
	Asset  string
	SHA256 string
	// Credentials are the input's own Content Credentials (ReadIngredient),
	// nil when it carried none.
	Credentials *IngredientCredentials
}

// action is one entry of c2pa.actions.v2.
type action struct {
	Action            string         `cbor:"action"`
	SoftwareAgent     *Generator     `cbor:"softwareAgent,omitempty"`
	DigitalSourceType string         `cbor:"digitalSourceType,omitempty"`
	Parameters        map[string]any `cbor:"parameters,omitempty"`
	Description       string         `cbor:"description,omitempty"`
}

type ingredientV3 struct {
	Title             string             `cbor:"dc:title,omitempty"`
	Format            string             `cbor:"dc:format,omitempty"`
	Relationship      string             `cbor:"relationship"`
	ValidationResults *validationResults `cbor:"validationResults,omitempty"`
	InstanceID        string             `cbor:"instanceID,omitempty"`
	ActiveManifest    *hashedURI         `cbor:"activeManifest,omitempty"`
	ClaimSignature    *hashedURI         `cbor:"claimSignature,omitempty"`
	Description       string             `cbor:"description,omitempty"`
}

// TranscodeManifest is the manifest of an encode output: the input opened
// as the parent ingredient, then transcoded by agent (with the digital
// source type when the workspace declares one), and the job assertion.
// When the input carried Content Credentials, its manifests go into the
// output's store and the ingredient assertion references its active
// manifest and claim signature, with the validation results found.
func TranscodeManifest(title string, agent Generator, sourceType string, in Ingredient, job JobAssertion) Manifest {
	ing := ingredientV3{
		Title: in.Title, Format: in.Format, Relationship: "parentOf",
		InstanceID:  "framebroker:asset:" + in.Asset,
		Description: "sha256:" + in.SHA256,
	}
	var carried [][]byte
	if ic := in.Credentials; ic != nil {
		am, cs := ic.refs()
		vr := results(ic.Report, ic.active.label)
		ing.ActiveManifest, ing.ClaimSignature, ing.ValidationResults = &am, &cs, &vr
		carried = ic.manifests
	}
	// The hashed URI of the ingredient is filled in by build via ref.
	opened := action{Action: "c2pa.opened", SoftwareAgent: &agent, DigitalSourceType: sourceType,
		Parameters: map[string]any{"ingredients": []ingredientRef{{label: LabelIngredient}}}}
	transcoded := action{Action: "c2pa.transcoded", SoftwareAgent: &agent, DigitalSourceType: sourceType,
		Description: "encoded with preset " + job.Preset}
	return Manifest{
		Title:       title,
		Generator:   agent,
		ingredients: carried,
		Assertions: []Assertion{
			{Label: LabelIngredient, Data: ing},
			{Label: LabelActions, Data: actions{Actions: []action{opened, transcoded}}},
			{Label: LabelFramebroker, Data: job},
		},
	}
}

// actions is the c2pa.actions.v2 assertion.
type actions struct {
	Actions []action `cbor:"actions"`
}

// withRefs returns a with every ingredientRef in its parameters replaced by
// the hashed URI of the assertion it names.
func (a actions) withRefs(refs map[string]hashedURI) (actions, error) {
	out := actions{Actions: make([]action, len(a.Actions))}
	for i, ac := range a.Actions {
		out.Actions[i] = ac
		if ings, ok := ac.Parameters["ingredients"].([]ingredientRef); ok {
			p := map[string]any{}
			for k, v := range ac.Parameters {
				p[k] = v
			}
			var uris []hashedURI
			for _, r := range ings {
				u, ok := refs[r.label]
				if !ok {
					return a, fmt.Errorf("c2pa: action %s refers to %s, which is not before it", ac.Action, r.label)
				}
				uris = append(uris, u)
			}
			p["ingredients"] = uris
			out.Actions[i].Parameters = p
		}
	}
	return out, nil
}

// ingredientRef is replaced by the hashed URI of the assertion labelled
// label when the manifest is built.
type ingredientRef struct{ label string }
