package kubeapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ServiceNameLabel is the label that ties an EndpointSlice to its Service.
const ServiceNameLabel = "kubernetes.io/service-name"

// Client lists and watches the EndpointSlices of one Service.
type Client struct {
	cfg *Config
}

// NewClient returns a Client for cfg.
func NewClient(cfg *Config) *Client { return &Client{cfg: cfg} }

// Server is the API server's URL, for messages.
func (c *Client) Server() string { return c.cfg.Host }

func slicesPath(namespace string) string {
	return "/apis/discovery.k8s.io/v1/namespaces/" + url.PathEscape(namespace) + "/endpointslices"
}

// ListSlices lists the EndpointSlices of service in namespace, following
// pagination. The list's resourceVersion is where a watch resumes.
func (c *Client) ListSlices(ctx context.Context, namespace, service string) (*EndpointSliceList, error) {
	out := &EndpointSliceList{}
	q := url.Values{"labelSelector": {ServiceNameLabel + "=" + service}, "limit": {"500"}}
	for {
		var page EndpointSliceList
		resp, err := c.get(ctx, slicesPath(namespace), q)
		if err != nil {
			return nil, err
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decoding EndpointSlice list: %w", err)
		}
		out.Items = append(out.Items, page.Items...)
		out.Metadata.ResourceVersion = page.Metadata.ResourceVersion
		if page.Metadata.Continue == "" {
			return out, nil
		}
		q.Set("continue", page.Metadata.Continue)
	}
}

// Watch is an open watch stream.
type Watch struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// WatchSlices opens a watch of the EndpointSlices of service in namespace
// from resourceVersion, with bookmarks. The server ends it after a few
// minutes; the caller then watches again from the last version seen.
func (c *Client) WatchSlices(ctx context.Context, namespace, service, resourceVersion string) (*Watch, error) {
	q := url.Values{
		"labelSelector":       {ServiceNameLabel + "=" + service},
		"watch":               {"1"},
		"resourceVersion":     {resourceVersion},
		"allowWatchBookmarks": {"true"},
		// Spread the reconnections of many clients, like client-go does.
		"timeoutSeconds": {strconv.Itoa(300 + rand.IntN(300))},
	}
	resp, err := c.get(ctx, slicesPath(namespace), q)
	if err != nil {
		return nil, err
	}
	return &Watch{body: resp.Body, dec: json.NewDecoder(bufio.NewReader(resp.Body))}, nil
}

// Next blocks for the next event. It returns io.EOF when the server ended
// the stream, and the context's error once the request's context is done.
func (w *Watch) Next() (Event, error) {
	var raw struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := w.dec.Decode(&raw); err != nil {
		return Event{}, err
	}
	ev := Event{Type: raw.Type}
	if raw.Type == Error {
		var st Status
		if err := json.Unmarshal(raw.Object, &st); err != nil {
			return Event{}, fmt.Errorf("decoding watch error: %w", err)
		}
		ev.Status = &st
		return ev, nil
	}
	if err := json.Unmarshal(raw.Object, &ev.Object); err != nil {
		return Event{}, fmt.Errorf("decoding %s event: %w", raw.Type, err)
	}
	return ev, nil
}

// Close ends the stream.
func (w *Watch) Close() error { return w.body.Close() }

// get sends a GET and turns a non-2xx answer into a *StatusError.
func (c *Client) get(ctx context.Context, path string, q url.Values) (*response, error) {
	header := [][2]string{{"Accept", "application/json"}}
	if c.cfg.UserAgent != "" {
		header = append(header, [2]string{"User-Agent", c.cfg.UserAgent})
	}
	if c.cfg.Token != nil {
		tok, err := c.cfg.Token()
		if err != nil {
			return nil, err
		}
		if tok != "" {
			header = append(header, [2]string{"Authorization", "Bearer " + tok})
		}
	}
	resp, err := c.cfg.roundTrip(ctx, path+"?"+q.Encode(), header)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	se := &StatusError{Code: resp.Status}
	var st Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		se.Reason, se.Message = st.Reason, st.Message
	} else if len(body) > 0 {
		se.Message = strings.TrimSpace(string(body))
	}
	return nil, se
}

// Err turns an ERROR event's Status into an error.
func (s *Status) Err() error {
	code := s.Code
	if code == 0 {
		code = 500
	}
	return &StatusError{Code: code, Reason: s.Reason, Message: s.Message}
}

// Timeouts of a request: connecting (TCP and TLS), and the wait for the
// answer's head.
const (
	dialTimeout   = 10 * time.Second
	headerTimeout = 30 * time.Second
)
