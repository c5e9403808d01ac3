package kubeapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file is a small HTTP/1.1 client: one GET per connection, answers
// with Content-Length, chunked or close-delimited bodies. peer-finder uses
// it instead of net/http, whose client adds about 1 MiB of resident memory
// to every peer-finder process, DNS mode included.

// response is an answer whose Body must be closed.
type response struct {
	Status int
	Body   io.ReadCloser
}

// roundTrip sends a GET for target (path?query) to host and reads the
// answer's head. The connection ends when ctx does or Body is closed.
func (c *Config) roundTrip(ctx context.Context, target string, header [][2]string) (*response, error) {
	u, err := url.Parse(c.Host)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", c.Host, err)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("GET %s%s: %w", c.Host, target, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("GET %s%s: %w", c.Host, target, err)
	}
	_ = conn.SetDeadline(time.Now().Add(headerTimeout))
	switch u.Scheme {
	case "https":
		tc := c.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		t := tls.Client(conn, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		conn = t
	case "http":
	default:
		return fail(fmt.Errorf("unsupported scheme %q", u.Scheme))
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", target, u.Host)
	for _, h := range header {
		fmt.Fprintf(&req, "%s: %s\r\n", h[0], h[1])
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return fail(err)
	}
	br := bufio.NewReader(conn)
	status, length, chunked, err := readHead(br)
	if err != nil {
		return fail(err)
	}
	_ = conn.SetDeadline(time.Time{})
	var body io.Reader = br
	switch {
	case chunked:
		body = &chunkedReader{r: br}
	case length >= 0:
		body = io.LimitReader(br, length)
	}
	return &response{Status: status, Body: &connBody{Reader: body, close: func() error { stop(); return conn.Close() }}}, nil
}

// readHead reads the status line and the headers that frame the body.
func readHead(br *bufio.Reader) (status int, length int64, chunked bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, 0, false, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	if status, err = strconv.Atoi(code); err != nil || !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, 0, false, fmt.Errorf("malformed status line %q", line)
	}
	length = -1
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, 0, false, err
		}
		if line == "" {
			return status, length, chunked, nil
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-length":
			if length, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, 0, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(v, "chunked")
		}
	}
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// chunkedReader decodes a chunked body; trailers are skipped.
type chunkedReader struct {
	r    *bufio.Reader
	left int64
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := readLine(c.r)
		if err != nil {
			return 0, err
		}
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for line != "" {
				if line, err = readLine(c.r); err != nil {
					return 0, err
				}
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		if _, err = readLine(c.r); err != nil {
			return n, err
		}
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

type connBody struct {
	io.Reader
	close func() error
}

func (b *connBody) Close() error { return b.close() }
