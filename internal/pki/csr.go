package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// MaxCSRSize bounds a CSR ParseCSR reads, in bytes of DER.
const MaxCSRSize = 64 << 10

var (
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidSAN              = asn1.ObjectIdentifier{2, 5, 29, 17}
)

// ParseCSR reads a PKCS#10 certificate request in DER and checks what
// every issuance needs of it: at most MaxCSRSize bytes (ErrTooLarge),
// well-formed (ErrMalformed), a self-signature that verifies, so the
// requester holds the key (ErrCSRSignature), a key the CA certifies
// (ErrKeyType), and no request for a CA certificate (ErrCARequest).
func ParseCSR(der []byte) (*x509.CertificateRequest, error) {
	switch {
	case len(der) == 0:
		return nil, fmt.Errorf("%w: empty csr", ErrMalformed)
	case len(der) > MaxCSRSize:
		return nil, fmt.Errorf("%w: csr of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(der), MaxCSRSize)
	case bytes.HasPrefix(bytes.TrimSpace(der), []byte("-----BEGIN")):
		return nil, fmt.Errorf("%w: csr is pem text; send its der", ErrMalformed)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: csr: %v", ErrMalformed, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSRSignature, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := checkNotCA(csr); err != nil {
		return nil, err
	}
	return csr, nil
}

// checkNotCA refuses a CSR whose requested extensions ask for a CA: a
// basicConstraints with cA true, or a key usage with keyCertSign or
// cRLSign. The CA would not grant them anyway; refusing says so.
func checkNotCA(csr *x509.CertificateRequest) error {
	for _, ext := range csr.Extensions {
		switch {
		case ext.Id.Equal(oidBasicConstraints):
			var bc struct {
				IsCA       bool `asn1:"optional"`
				MaxPathLen int  `asn1:"optional,default:-1"`
			}
			rest, err := asn1.Unmarshal(ext.Value, &bc)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("%w: csr: basicConstraints extension does not parse", ErrMalformed)
			}
			if bc.IsCA {
				return fmt.Errorf("%w: csr requests a ca certificate (basicConstraints CA:true)", ErrCARequest)
			}
		case ext.Id.Equal(oidKeyUsage):
			var ku asn1.BitString
			rest, err := asn1.Unmarshal(ext.Value, &ku)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("%w: csr: keyUsage extension does not parse", ErrMalformed)
			}
			if ku.At(5) == 1 || ku.At(6) == 1 { // keyCertSign, cRLSign
				return fmt.Errorf("%w: csr requests the keyCertSign or cRLSign key usage", ErrCARequest)
			}
		}
	}
	return nil
}
