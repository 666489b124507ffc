package gateway

import (
	"encoding/json"
	"encoding/xml"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// format is the shape of the answers a client understands.
type format uint8

const (
	formatJSON format = iota // API clients
	formatHTML               // browsers
	formatXML                // SigV4 clients: AWS's ErrorResponse
)

// formatOf tells a client's format: SigV4 clients (an AWS4- Authorization,
// an X-Amz-* header or a presigned query) get XML, clients that accept
// text/html get a page, the rest JSON.
func formatOf(r *http.Request) format {
	if hasPrefixFold(r.Header.Get("Authorization"), "AWS4-") {
		return formatXML
	}
	for k := range r.Header {
		if hasPrefixFold(k, "X-Amz-") {
			return formatXML
		}
	}
	if q := r.URL.RawQuery; q != "" && (strings.Contains(q, "X-Amz-Signature=") || strings.Contains(q, "X-Amz-Credential=")) {
		return formatXML
	}
	for _, a := range r.Header["Accept"] {
		if containsFold(a, "text/html") {
			return formatHTML
		}
	}
	return formatJSON
}

// What clients are told. Messages are constants: no client input, no
// internal text.
var (
	refuseNotFound   = &Refusal{http.StatusNotFound, "NotFound", "No application is served at this address."}
	refuseHost       = &Refusal{http.StatusBadRequest, "InvalidHost", "The Host header is not a valid host name."}
	refuseTarget     = &Refusal{http.StatusBadRequest, "InvalidRequestTarget", "Only origin-form request targets (a path) are accepted."}
	refuseMethod     = &Refusal{http.StatusMethodNotAllowed, "MethodNotAllowed", "The method is not accepted: CONNECT never is, and others must be upper case."}
	refusePathLong   = &Refusal{http.StatusRequestURITooLong, "URITooLong", "The request path is too long."}
	refuseAuth       = &Refusal{http.StatusUnauthorized, "Unauthenticated", "This application requires authentication."}
	refuseReauth     = &Refusal{http.StatusUnauthorized, "ReauthenticationRequired", "This application requires a more recent sign-in."}
	refuseAudit      = &Refusal{http.StatusServiceUnavailable, "ServiceUnavailable", "The request could not be recorded in the audit log, so it was refused. Try again later."}
	refuseInternal   = &Refusal{http.StatusInternalServerError, "InternalFailure", "The request could not be served because of an internal error."}
	refuseBadGateway = &Refusal{http.StatusBadGateway, "BadGateway", "The application could not be reached."}
)

func refusePath(e *PathError) *Refusal {
	return &Refusal{http.StatusBadRequest, "InvalidPath", "The request path was refused: " + e.Reason + "."}
}

// refuseDenied is AccessDenied with AWS's wording. It names the caller and
// the action, not the resource: a path may carry a secret.
func refuseDenied(arn, action string, explicit bool) *Refusal {
	if arn == "" {
		arn = "anonymous"
	}
	msg := "User: " + arn + " is not authorized to perform: " + action + " on this resource"
	if explicit {
		msg += " with an explicit deny"
	}
	return &Refusal{http.StatusForbidden, "AccessDenied", msg + "."}
}

// writeRefusal answers with ref in the client's format.
func writeRefusal(w http.ResponseWriter, f format, requestID string, ref *Refusal) {
	h := w.Header()
	h.Set("X-Request-Id", requestID)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	var body []byte
	switch f {
	case formatHTML:
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		body = refusalHTML(requestID, ref)
	case formatXML:
		h.Set("Content-Type", "text/xml")
		body = refusalXML(requestID, ref)
	default:
		h.Set("Content-Type", "application/json")
		body = refusalJSON(requestID, ref)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(ref.Status)
	w.Write(body)
}

func refusalJSON(requestID string, ref *Refusal) []byte {
	b, err := json.Marshal(struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	}{ref.Code, ref.Message, requestID})
	if err != nil { // only strings: cannot happen
		return nil
	}
	return append(b, '\n')
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func refusalXML(requestID string, ref *Refusal) []byte {
	typ := "Sender"
	if ref.Status >= 500 {
		typ = "Receiver"
	}
	b, err := xml.Marshal(errorResponse{Type: typ, Code: ref.Code, Message: ref.Message, RequestID: requestID})
	if err != nil { // only strings: cannot happen
		return nil
	}
	return append([]byte(xml.Header), b...)
}

func refusalHTML(requestID string, ref *Refusal) []byte {
	title := html.EscapeString(strconv.Itoa(ref.Status) + " " + http.StatusText(ref.Status))
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
	b.WriteString(title)
	b.WriteString("</title><meta name=\"viewport\" content=\"width=device-width\"></head>\n<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto;padding:0 1em\">\n<h1>")
	b.WriteString(title)
	b.WriteString("</h1>\n<p>")
	b.WriteString(html.EscapeString(ref.Message))
	b.WriteString("</p>\n<p><small>")
	b.WriteString(html.EscapeString(ref.Code))
	b.WriteString(" &middot; request id <code>")
	b.WriteString(html.EscapeString(requestID))
	b.WriteString("</code></small></p>\n</body></html>\n")
	return []byte(b.String())
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// containsFold reports whether s contains sub, ignoring ASCII case; sub
// must begin with a lower-case letter. Linear in practice: clients choose
// s.
func containsFold(s, sub string) bool {
	c := sub[0]
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == c && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
