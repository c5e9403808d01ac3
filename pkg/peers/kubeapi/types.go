// Package kubeapi is the small part of a Kubernetes API client that
// peer-finder needs to read EndpointSlices: a connection built from a
// kubeconfig file or the in-cluster service account (config.go,
// kubeconfig.go, with the YAML subset of kubeconfigs in yaml.go), list and
// watch of discovery.k8s.io/v1 EndpointSlices of one Service (client.go),
// the few JSON types involved and the API's Status errors (types.go), and a
// small HTTP/1.1 client (http.go). It uses crypto/tls and encoding/json,
// not client-go, net/http's client or a YAML library: those would add
// about 1.5 MiB of resident memory to every peer-finder process, DNS mode
// included.
package kubeapi

import (
	"errors"
	"fmt"
)

// ObjectMeta is the part of an object's metadata that is read.
type ObjectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
}

// EndpointSlice is a discovery.k8s.io/v1 EndpointSlice, reduced to the
// fields that decide DNS publication.
type EndpointSlice struct {
	APIVersion  string         `json:"apiVersion,omitempty"`
	Kind        string         `json:"kind,omitempty"`
	Metadata    ObjectMeta     `json:"metadata"`
	AddressType string         `json:"addressType"`
	Endpoints   []Endpoint     `json:"endpoints"`
	Ports       []EndpointPort `json:"ports,omitempty"`
}

// Endpoint is one backend of a slice.
type Endpoint struct {
	Addresses  []string           `json:"addresses"`
	Conditions EndpointConditions `json:"conditions"`
	Hostname   *string            `json:"hostname,omitempty"`
}

// EndpointConditions are an endpoint's state. A nil Ready is unknown and
// counts as ready, as for the API's own consumers.
type EndpointConditions struct {
	Ready       *bool `json:"ready,omitempty"`
	Serving     *bool `json:"serving,omitempty"`
	Terminating *bool `json:"terminating,omitempty"`
}

// EndpointPort is a port of a slice.
type EndpointPort struct {
	Name     *string `json:"name,omitempty"`
	Port     *int32  `json:"port,omitempty"`
	Protocol *string `json:"protocol,omitempty"`
}

// ListMeta is a list's metadata.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Continue        string `json:"continue,omitempty"`
}

// EndpointSliceList is the answer to a list request.
type EndpointSliceList struct {
	APIVersion string          `json:"apiVersion,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Metadata   ListMeta        `json:"metadata"`
	Items      []EndpointSlice `json:"items"`
}

// Event types of a watch stream.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
	Bookmark = "BOOKMARK"
	Error    = "ERROR"
)

// Event is one event of a watch stream. For Error, Status is set instead of
// Object.
type Event struct {
	Type   string
	Object EndpointSlice
	Status *Status
}

// Status is the API's error object (kind Status).
type Status struct {
	Kind    string `json:"kind,omitempty"`
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// StatusError is a request the API server refused, or an ERROR event.
type StatusError struct {
	Code    int
	Reason  string
	Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Reason
	}
	if msg == "" {
		return fmt.Sprintf("%d %s", e.Code, statusText[e.Code])
	}
	return fmt.Sprintf("%d %s: %s", e.Code, statusText[e.Code], msg)
}

// statusText names the codes the API server answers with (net/http is not
// linked, see http.go).
var statusText = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	406: "Not Acceptable", 409: "Conflict", 410: "Gone", 422: "Unprocessable Entity", 429: "Too Many Requests",
	500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

// IsGone reports whether err is a 410 Gone (resource version too old):
// the client must list again.
func IsGone(err error) bool { return hasCode(err, 410) }

// IsForbidden reports whether err is a 403 Forbidden.
func IsForbidden(err error) bool { return hasCode(err, 403) }

func hasCode(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}
