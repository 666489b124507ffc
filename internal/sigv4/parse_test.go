package sigv4

import (
	"reflect"
	"testing"
)

var authorizationSeeds = []string{
	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20150830/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022018b4",
	"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f,SignedHeaders=,Signature=",
	"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws5_request, Signature=zz",
	"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request/, SignedHeaders=host, Signature=00",
	"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=host, Signature=00",
	"AWS4-ECDSA-P256-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
	"   AWS4-HMAC-SHA256   Credential=a/b/c/d/aws4_request ,  SignedHeaders=host  ,Signature=00 , Other=x",
	"AWS4-HMAC-SHA256 Credential AKID",
	"AWS4-HMAC-SHA256 Signature=,Signature=x,Credential=a/b/c/d/aws4_request,SignedHeaders=h",
	"Bearer eyJhbGciOiJIUzI1NiJ9",
	"Signature=abc",
	"",
	"AWS4-HMAC-SHA256 ,,,,",
	"AWS4-HMAC-SHA256 Signature=a,Signature=b",
}

// checkAgainstReference requires parseAuthorization to answer exactly as
// the parser did before it was tuned, errors included.
func checkAgainstReference(t *testing.T, h string, hasDate bool) {
	t.Helper()
	a, e := parseAuthorization(h, hasDate)
	ra, re := refParseAuthorization(h, hasDate)
	if !reflect.DeepEqual(e, re) {
		t.Fatalf("%q: error %v, reference %v", h, e, re)
	}
	if a != ra {
		t.Fatalf("%q: %+v, reference %+v", h, a, ra)
	}
}

func TestParseAuthorizationReference(t *testing.T) {
	for _, h := range authorizationSeeds {
		checkAgainstReference(t, h, true)
		checkAgainstReference(t, h, false)
	}
}

func FuzzParseAuthorizationReference(f *testing.F) {
	for _, h := range authorizationSeeds {
		f.Add(h, true)
	}
	f.Fuzz(checkAgainstReference)
}
