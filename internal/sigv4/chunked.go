package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxChunk bounds one chunk of a streaming payload, which is buffered
// whole before its signature is known to be good. SDKs send 64 KiB.
const maxChunk = 16 << 20

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// ErrChunkSignature reports a streaming-payload chunk whose signature does
// not follow from the previous one; the bytes of that chunk were withheld.
var ErrChunkSignature = &Error{Code: CodeSignatureDoesNotMatch, Message: msgSignatureDoesNotMatch, HTTPStatus: 403}

var errChunkFormat = &Error{Code: CodeIncompleteSignature, Message: "The streaming payload is malformed.", HTTPStatus: 400}

// ChunkReader returns a reader over the decoded body of a streaming
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) request. It yields a chunk's bytes
// only after that chunk's signature, chained from the request's seed
// signature, has verified, and fails with an *Error on a bad or truncated
// chunk. decodedLength is x-amz-decoded-content-length (-1 if absent);
// the total must match it.
func (res *Result) ChunkReader(body io.Reader, decodedLength int64) (io.Reader, error) {
	if res.chain == nil {
		return nil, errors.New("sigv4: request does not have a streaming payload")
	}
	return &chunkReader{
		br: bufio.NewReader(body), key: res.chain.key, prev: hex.EncodeToString(res.chain.seed[:]),
		prefix: "AWS4-HMAC-SHA256-PAYLOAD\n" + res.chain.amzDate + "\n" + res.chain.scope + "\n",
		want:   decodedLength,
	}, nil
}

type chunkReader struct {
	br     *bufio.Reader
	key    [32]byte
	prev   string
	prefix string
	buf    []byte // verified bytes not yet returned
	total  int64
	want   int64
	done   bool
	err    error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		c.err = c.next()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// next reads and verifies one chunk.
func (c *chunkReader) next() error {
	line, err := c.br.ReadString('\n')
	if err != nil {
		return errChunkFormat
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	sizeHex, ext, ok := strings.Cut(line, ";")
	sig, ok2 := strings.CutPrefix(ext, "chunk-signature=")
	if !ok || !ok2 || len(sig) != 64 {
		return errChunkFormat
	}
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil || size < 0 || size > maxChunk {
		return errChunkFormat
	}
	data := make([]byte, size+2)
	if _, err := io.ReadFull(c.br, data); err != nil || data[size] != '\r' || data[size+1] != '\n' {
		return errChunkFormat
	}
	data = data[:size]
	sum := sha256.Sum256(data)
	mac := hmac.New(sha256.New, c.key[:])
	io.WriteString(mac, c.prefix)
	io.WriteString(mac, c.prev)
	io.WriteString(mac, "\n"+emptySHA256+"\n")
	io.WriteString(mac, hex.EncodeToString(sum[:]))
	var want [32]byte
	if _, err := hex.Decode(want[:], []byte(sig)); err != nil || !hmac.Equal(mac.Sum(nil), want[:]) {
		return ErrChunkSignature
	}
	c.prev = sig
	c.total += size
	if c.want >= 0 && c.total > c.want {
		return errChunkFormat
	}
	if size == 0 {
		if c.want >= 0 && c.total != c.want {
			return errChunkFormat
		}
		c.done = true
		return nil
	}
	c.buf = data
	return nil
}
