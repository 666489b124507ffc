package agent

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
)

// chainPEM encodes certificates as PEM, in order.
func chainPEM(chain []*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}
