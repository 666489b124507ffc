package policy

// Size is the size of a policy document as AWS IAM counts it against its
// quotas: every byte but the white space between JSON tokens.
func Size(doc []byte) int {
	n := 0
	inString, escaped := false, false
	for _, c := range doc {
		switch {
		case inString:
			n++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			n++
			if c == '"' {
				inString = true
			}
		}
	}
	return n
}
