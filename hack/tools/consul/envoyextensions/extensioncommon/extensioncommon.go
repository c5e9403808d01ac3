// Package extensioncommon keeps the names Consul's built-in Envoy extensions
// use from the envoyextensions module's package of the same name: the
// runtime configuration handed to an extension, the extension interfaces,
// and helpers that build Envoy filters.
//
// This build of Consul serves no Envoy proxies (see xdscommon), so the
// extenders here validate their configuration but refuse to patch resources:
// Extend always returns ErrNotBuilt.
package extensioncommon

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	envoy_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_http_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/consul/envoyextensions/xdscommon"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrNotBuilt is returned by every extender's Extend.
var ErrNotBuilt = errors.New("Envoy extensions are not built into this consul binary")

// UpstreamData describes an upstream of the proxy an extension runs for.
type UpstreamData struct {
	PrimarySNI        string
	SNIs              map[string]struct{}
	VIP               string
	EnvoyID           string
	OutgoingProxyKind api.ServiceKind
}

// RuntimeConfig is the configuration an extension is applied with.
type RuntimeConfig struct {
	EnvoyExtension        api.EnvoyExtension
	ServiceName           api.CompoundServiceName
	Upstreams             map[api.CompoundServiceName]*UpstreamData
	IsSourcedFromUpstream bool
	Kind                  api.ServiceKind
	Protocol              string
}

// UpstreamOutgoingProxyKind returns the kind of proxy traffic to the
// configured service leaves through ("" when it is not an upstream).
func (c *RuntimeConfig) UpstreamOutgoingProxyKind() api.ServiceKind {
	if u, ok := c.Upstreams[c.ServiceName]; ok && u != nil {
		return u.OutgoingProxyKind
	}
	return ""
}

// EnvoyExtender applies an extension to a proxy's xDS resources.
type EnvoyExtender interface {
	CanApply(*RuntimeConfig) bool
	Validate(*RuntimeConfig) error
	Extend(*xdscommon.IndexedResources, *RuntimeConfig) (*xdscommon.IndexedResources, error)
}

// ClusterMap holds clusters by name.
type ClusterMap map[string]*envoy_cluster_v3.Cluster

// TrafficDirection is inbound or outbound.
type TrafficDirection string

// The traffic directions.
const (
	TrafficDirectionInbound  TrafficDirection = "inbound"
	TrafficDirectionOutbound TrafficDirection = "outbound"
)

// TrafficDirections is the set of valid traffic directions.
var TrafficDirections = StringSet{string(TrafficDirectionInbound): {}, string(TrafficDirectionOutbound): {}}

// Payload is a resource handed to a BasicExtension's Patch method.
type Payload[K proto.Message] struct {
	TrafficDirection TrafficDirection
	ServiceName      *api.CompoundServiceName
	RouteName        string
	Message          K
	RuntimeConfig    *RuntimeConfig
}

// IsInbound says whether the resource belongs to inbound traffic.
func (p Payload[K]) IsInbound() bool { return p.TrafficDirection == TrafficDirectionInbound }

// The payloads of each resource kind.
type (
	ClusterPayload               = Payload[*envoy_cluster_v3.Cluster]
	ClusterLoadAssignmentPayload = Payload[*envoy_endpoint_v3.ClusterLoadAssignment]
	ListenerPayload              = Payload[*envoy_listener_v3.Listener]
	RoutePayload                 = Payload[*envoy_route_v3.RouteConfiguration]
	FilterPayload                = Payload[*envoy_listener_v3.Filter]
)

// BasicExtension is an extension that patches resources one at a time.
type BasicExtension interface {
	CanApply(*RuntimeConfig) bool
	PatchCluster(ClusterPayload) (*envoy_cluster_v3.Cluster, bool, error)
	PatchClusters(*RuntimeConfig, ClusterMap) (ClusterMap, error)
	PatchClusterLoadAssignment(ClusterLoadAssignmentPayload) (*envoy_endpoint_v3.ClusterLoadAssignment, bool, error)
	PatchRoute(RoutePayload) (*envoy_route_v3.RouteConfiguration, bool, error)
	PatchListener(ListenerPayload) (*envoy_listener_v3.Listener, bool, error)
	PatchFilter(FilterPayload) (*envoy_listener_v3.Filter, bool, error)
	PatchFilters(*RuntimeConfig, []*envoy_listener_v3.Filter, bool) ([]*envoy_listener_v3.Filter, error)
}

// BasicExtensionAdapter gives a BasicExtension methods that change nothing.
type BasicExtensionAdapter struct{}

// CanApply returns false.
func (BasicExtensionAdapter) CanApply(*RuntimeConfig) bool { return false }

// PatchCluster returns the cluster unchanged.
func (BasicExtensionAdapter) PatchCluster(p ClusterPayload) (*envoy_cluster_v3.Cluster, bool, error) {
	return p.Message, false, nil
}

// PatchClusters returns the clusters unchanged.
func (BasicExtensionAdapter) PatchClusters(_ *RuntimeConfig, c ClusterMap) (ClusterMap, error) {
	return c, nil
}

// PatchClusterLoadAssignment returns the assignment unchanged.
func (BasicExtensionAdapter) PatchClusterLoadAssignment(p ClusterLoadAssignmentPayload) (*envoy_endpoint_v3.ClusterLoadAssignment, bool, error) {
	return p.Message, false, nil
}

// PatchRoute returns the route unchanged.
func (BasicExtensionAdapter) PatchRoute(p RoutePayload) (*envoy_route_v3.RouteConfiguration, bool, error) {
	return p.Message, false, nil
}

// PatchListener returns the listener unchanged.
func (BasicExtensionAdapter) PatchListener(p ListenerPayload) (*envoy_listener_v3.Listener, bool, error) {
	return p.Message, false, nil
}

// PatchFilter returns the filter unchanged.
func (BasicExtensionAdapter) PatchFilter(p FilterPayload) (*envoy_listener_v3.Filter, bool, error) {
	return p.Message, false, nil
}

// PatchFilters returns the filters unchanged.
func (BasicExtensionAdapter) PatchFilters(_ *RuntimeConfig, f []*envoy_listener_v3.Filter, _ bool) ([]*envoy_listener_v3.Filter, error) {
	return f, nil
}

// BasicEnvoyExtender applies a BasicExtension to the local proxy's resources.
type BasicEnvoyExtender struct {
	Extension BasicExtension
}

// CanApply asks the extension.
func (b *BasicEnvoyExtender) CanApply(c *RuntimeConfig) bool { return b.Extension.CanApply(c) }

// Validate accepts any configuration the extension's constructor accepted.
func (b *BasicEnvoyExtender) Validate(*RuntimeConfig) error { return nil }

// Extend returns ErrNotBuilt.
func (b *BasicEnvoyExtender) Extend(*xdscommon.IndexedResources, *RuntimeConfig) (*xdscommon.IndexedResources, error) {
	return nil, ErrNotBuilt
}

// UpstreamEnvoyExtender applies a BasicExtension to an upstream's resources.
type UpstreamEnvoyExtender struct {
	Extension BasicExtension
}

// CanApply asks the extension.
func (u *UpstreamEnvoyExtender) CanApply(c *RuntimeConfig) bool { return u.Extension.CanApply(c) }

// Validate accepts any configuration the extension's constructor accepted.
func (u *UpstreamEnvoyExtender) Validate(*RuntimeConfig) error { return nil }

// Extend returns ErrNotBuilt.
func (u *UpstreamEnvoyExtender) Extend(*xdscommon.IndexedResources, *RuntimeConfig) (*xdscommon.IndexedResources, error) {
	return nil, ErrNotBuilt
}

// StringSet is a set of strings.
type StringSet map[string]struct{}

// CheckRequired returns an error when v is empty or not in the set.
func (s StringSet) CheckRequired(v, field string) error {
	if _, ok := s[v]; ok {
		return nil
	}
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	if v == "" {
		return fmt.Errorf("field %s is required", field)
	}
	return fmt.Errorf("invalid %s %q; supported values: %s", field, v, strings.Join(names, ", "))
}

// NormalizeServiceName fills in the default namespace and partition.
func NormalizeServiceName(sn *api.CompoundServiceName) {
	if sn.Namespace == "" {
		sn.Namespace = "default"
	}
	if sn.Partition == "" {
		sn.Partition = "default"
	}
}

// MakeFilter returns a network filter with cfg as its typed config.
func MakeFilter(name string, cfg proto.Message) (*envoy_listener_v3.Filter, error) {
	a, err := anypb.New(cfg)
	if err != nil {
		return nil, err
	}
	return &envoy_listener_v3.Filter{Name: name, ConfigType: &envoy_listener_v3.Filter_TypedConfig{TypedConfig: a}}, nil
}

// MakeEnvoyHTTPFilter returns an HTTP filter with cfg as its typed config.
func MakeEnvoyHTTPFilter(name string, cfg proto.Message) (*envoy_http_v3.HttpFilter, error) {
	a, err := anypb.New(cfg)
	if err != nil {
		return nil, err
	}
	return &envoy_http_v3.HttpFilter{Name: name, ConfigType: &envoy_http_v3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// MakeUpstreamTLSTransportSocket returns a "tls" transport socket for tlsContext.
func MakeUpstreamTLSTransportSocket(tlsContext *envoy_tls_v3.UpstreamTlsContext) (*envoy_core_v3.TransportSocket, error) {
	a, err := anypb.New(tlsContext)
	if err != nil {
		return nil, err
	}
	return &envoy_core_v3.TransportSocket{Name: "tls", ConfigType: &envoy_core_v3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// InsertLocation says where InsertHTTPFilter and InsertNetworkFilter put a filter.
type InsertLocation string

// The insert locations.
const (
	InsertFirst            InsertLocation = "First"
	InsertBeforeFirstMatch InsertLocation = "BeforeFirstMatch"
	InsertAfterFirstMatch  InsertLocation = "AfterFirstMatch"
	InsertBeforeLastMatch  InsertLocation = "BeforeLastMatch"
	InsertAfterLastMatch   InsertLocation = "AfterLastMatch"
	InsertLast             InsertLocation = "Last"
)

// InsertOptions says where to insert a filter.
type InsertOptions struct {
	Location   InsertLocation
	FilterName string
}

// InsertHTTPFilter returns ErrNotBuilt.
func InsertHTTPFilter(f []*envoy_listener_v3.Filter, _ *envoy_http_v3.HttpFilter, _ InsertOptions) ([]*envoy_listener_v3.Filter, error) {
	return f, ErrNotBuilt
}

// InsertNetworkFilter returns ErrNotBuilt.
func InsertNetworkFilter(f []*envoy_listener_v3.Filter, _ *envoy_listener_v3.Filter, _ InsertOptions) ([]*envoy_listener_v3.Filter, error) {
	return f, ErrNotBuilt
}
