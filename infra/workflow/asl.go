package workflow

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RenderDefinition turns a synthesized DefinitionString (a string, or a
// CloudFormation Fn::Join of strings and references) into plain ASL JSON, with
// each reference written as ${LogicalId} or ${LogicalId.Attr}. The local
// runner overrides every Task's resource, so these placeholders never run.
func RenderDefinition(def any) ([]byte, error) {
	var s string
	switch d := def.(type) {
	case string:
		s = d
	case map[string]any:
		join, ok := d["Fn::Join"].([]any)
		if !ok || len(join) != 2 {
			return nil, fmt.Errorf("workflow: definition is neither a string nor Fn::Join: %v", d)
		}
		sep, _ := join[0].(string)
		parts, _ := join[1].([]any)
		var out []string
		for _, p := range parts {
			r, err := renderPart(p)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		s = strings.Join(out, sep)
	default:
		return nil, fmt.Errorf("workflow: unexpected definition type %T", def)
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("workflow: rendered definition is not JSON: %w", err)
	}
	return json.MarshalIndent(v, "", "  ")
}

func renderPart(p any) (string, error) {
	switch v := p.(type) {
	case string:
		return v, nil
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			return "${" + ref + "}", nil
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return fmt.Sprintf("${%v.%v}", ga[0], ga[1]), nil
		}
	}
	return "", fmt.Errorf("workflow: cannot render definition part %v", p)
}
