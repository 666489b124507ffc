package iamapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// client calls a node's IAM API with requests signed as the AWS CLI signs
// them, with AWS's own signer.
type client struct {
	endpoint string // without a trailing slash
	creds    aws.Credentials
	region   string
	http     *http.Client
	signer   *v4.Signer
}

// maxResponse bounds what the client reads of an answer.
const maxResponse = 64 << 20

// call performs action with form's parameters and decodes the result
// element into result (nil for actions without one). A refusal is an
// *Error.
func (cl *client) call(ctx context.Context, action string, form url.Values, result any) error {
	form.Set("Action", action)
	form.Set("Version", Version)
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.endpoint+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := cl.signer.SignHTTP(ctx, cl.creds, req, hex.EncodeToString(sum[:]), Service, cl.region, time.Now().UTC()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorXML
		if xml.Unmarshal(data, &e) != nil || e.Code == "" {
			return fmt.Errorf("%s answered %s: %s", cl.endpoint, resp.Status, clip(string(data)))
		}
		return &Error{Code: e.Code, Message: e.Message, StatusCode: resp.StatusCode, Operation: action, RequestID: e.RequestID}
	}
	if result == nil {
		return nil
	}
	return decodeResult(data, action+"Result", result)
}

// decodeResult decodes the element called name, wherever it is, into v.
func decodeResult(data []byte, name string, v any) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the response has no %s element", name)
		}
		if err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			return dec.DecodeElement(v, &se)
		}
	}
}
