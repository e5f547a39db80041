package pages_test

import (
	"os"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/problem"
)

// TestPagesKnowSecondFactorType: the pages recognise "second factor needed"
// by identity's typed refusal, so the script must name exactly that type
// (and no longer match the 401's wording). TestResetWithSecondFactorInBrowser
// shows the prompt really appears.
func TestPagesKnowSecondFactorType(t *testing.T) {
	b, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	if !strings.Contains(js, `"`+problem.SecondFactorRequired.Type()+`"`) {
		t.Errorf("static/app.js does not name %s", problem.SecondFactorRequired.Type())
	}
	if strings.Contains(js, "/two-factor/.test") {
		t.Error("static/app.js still matches the refusal's wording")
	}
}
