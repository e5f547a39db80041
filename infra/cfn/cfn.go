// Package cfn reads synthesized CloudFormation templates decoded as JSON
// (map[string]any): the helpers the infra tests and the cost model share.
package cfn

// List is v as a list: a JSON array as is, a single value as a one-element
// list, nothing as nil (CloudFormation accepts a string or a list in many
// places, e.g. a statement's Action and Resource).
func List(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

// RefID is the logical id a {"Ref": id} or {"Fn::GetAtt": [id, ...]} names
// ("" for anything else).
func RefID(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
		s, _ := ga[0].(string)
		return s
	}
	return ""
}
