package sigv4

import (
	"strings"
	"testing"
)

// FuzzParseAuthorization feeds arbitrary Authorization headers to the
// parser: it must not panic, and no error may echo a signature value.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20150830/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022018b4",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f,SignedHeaders=,Signature=",
		"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws5_request, Signature=zz",
		"AWS4-HMAC-SHA256 Credential AKID",
		"Bearer eyJhbGciOiJIUzI1NiJ9",
		"",
		"AWS4-HMAC-SHA256 ,,,,",
		"AWS4-HMAC-SHA256 Signature=a,Signature=b",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, h string, hasDate bool) {
		a, e := parseAuthorization(h, hasDate)
		if e != nil {
			if e.Code != CodeIncompleteSignature {
				t.Fatalf("code %s", e.Code)
			}
			// Whatever follows "Signature=" in an echo must be the redaction.
			for m := e.Message; ; {
				i := strings.Index(m, "Signature=")
				if i < 0 {
					break
				}
				m = m[i+len("Signature="):]
				if !strings.HasPrefix(m, redacted) {
					t.Fatalf("message echoes a signature: %s", e.Message)
				}
			}
			return
		}
		if a.credential == "" || a.signature == "" || a.signedHeaders == "" || a.accessKeyID+"/" != a.credential[:len(a.accessKeyID)+1] {
			t.Fatalf("accepted incomplete %+v", a)
		}
	})
}
