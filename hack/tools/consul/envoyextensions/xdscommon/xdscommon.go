// Package xdscommon keeps the names Consul's agent uses from the
// envoyextensions module's package of the same name: the xDS type URLs and
// resource names, an index of xDS resources, and the Envoy version checks.
//
// This build of Consul serves no Envoy proxies: DetermineSupportedProxyFeatures
// refuses every Envoy node, so an xDS stream ends with that error.
package xdscommon

import (
	"errors"
	"fmt"

	envoy_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-version"
	"google.golang.org/protobuf/proto"
)

// The xDS resource types, by type URL.
const (
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// Names Consul gives the resources of a sidecar proxy.
const (
	PublicListenerName        = "public_listener"
	OutboundListenerName      = "outbound_listener"
	LocalAppClusterName       = "local_app"
	FailoverClusterNamePrefix = "failover-target~"
)

// ErrNoEnvoy is what this build answers an Envoy proxy.
var ErrNoEnvoy = errors.New("this consul binary is built without Envoy support (no service-mesh proxies)")

// EnvoyVersions lists the Envoy versions Consul 1.16 was released for, newest
// first; the agent reports them in its self endpoint.
var EnvoyVersions = []string{"1.26.4", "1.25.9", "1.24.10", "1.23.12"}

// UnsupportedEnvoyVersions lists Envoy versions known not to work.
var UnsupportedEnvoyVersions = []string{}

// GetMinEnvoyMinorVersion returns the oldest supported Envoy minor version, as "1.N".
func GetMinEnvoyMinorVersion() string { return minor(EnvoyVersions[len(EnvoyVersions)-1]) }

// GetMaxEnvoyMinorVersion returns the newest supported Envoy minor version, as "1.N".
func GetMaxEnvoyMinorVersion() string { return minor(EnvoyVersions[0]) }

func minor(v string) string {
	sv := version.Must(version.NewVersion(v)).Segments()
	return fmt.Sprintf("%d.%d", sv[0], sv[1])
}

// SupportedProxyFeatures says which features an Envoy proxy has.
type SupportedProxyFeatures struct{}

// DetermineSupportedProxyFeatures refuses every node: see ErrNoEnvoy.
func DetermineSupportedProxyFeatures(node *envoy_core_v3.Node) (SupportedProxyFeatures, error) {
	return SupportedProxyFeatures{}, fmt.Errorf("node %q: %w", node.GetId(), ErrNoEnvoy)
}

// DetermineEnvoyVersionFromNode returns the Envoy version a node reports, or
// nil when it reports none.
func DetermineEnvoyVersionFromNode(node *envoy_core_v3.Node) *version.Version {
	bv := node.GetUserAgentBuildVersion().GetVersion()
	if bv == nil {
		return nil
	}
	return version.Must(version.NewVersion(fmt.Sprintf("%d.%d.%d",
		bv.GetMajorNumber(), bv.GetMinorNumber(), bv.GetPatch())))
}

// IndexedResources holds xDS resources by type URL and name, and the names
// of the resources each one refers to (routes of a listener, endpoints of a
// cluster).
type IndexedResources struct {
	Index      map[string]map[string]proto.Message
	ChildIndex map[string]map[string][]string
}

// EmptyIndexedResources returns an index with an empty map for every type.
func EmptyIndexedResources() *IndexedResources {
	ir := &IndexedResources{
		Index:      map[string]map[string]proto.Message{},
		ChildIndex: map[string]map[string][]string{},
	}
	for _, t := range []string{ListenerType, RouteType, ClusterType, EndpointType, SecretType} {
		ir.Index[t] = map[string]proto.Message{}
		ir.ChildIndex[t] = map[string][]string{}
	}
	return ir
}

// IndexResources indexes resources by type URL and name.
func IndexResources(logger hclog.Logger, resources map[string][]proto.Message) *IndexedResources {
	ir := EmptyIndexedResources()
	for typ, list := range resources {
		for _, res := range list {
			name := GetResourceName(res)
			if name == "" {
				logger.Warn("skipping a resource without a name", "typeUrl", typ)
				continue
			}
			ir.Index[typ][name] = res
		}
	}
	return ir
}

// Clone returns a deep copy of ir.
func Clone(ir *IndexedResources) *IndexedResources {
	if ir == nil {
		return nil
	}
	out := &IndexedResources{
		Index:      make(map[string]map[string]proto.Message, len(ir.Index)),
		ChildIndex: make(map[string]map[string][]string, len(ir.ChildIndex)),
	}
	for typ, byName := range ir.Index {
		m := make(map[string]proto.Message, len(byName))
		for name, res := range byName {
			m[name] = proto.Clone(res)
		}
		out.Index[typ] = m
	}
	for typ, byName := range ir.ChildIndex {
		m := make(map[string][]string, len(byName))
		for name, children := range byName {
			m[name] = append([]string(nil), children...)
		}
		out.ChildIndex[typ] = m
	}
	return out
}

// GetResourceName returns the name of an xDS resource ("" for other messages).
func GetResourceName(res proto.Message) string {
	switch r := res.(type) {
	case *envoy_listener_v3.Listener:
		return r.GetName()
	case *envoy_route_v3.RouteConfiguration:
		return r.GetName()
	case *envoy_cluster_v3.Cluster:
		return r.GetName()
	case *envoy_endpoint_v3.ClusterLoadAssignment:
		return r.GetClusterName()
	case *envoy_tls_v3.Secret:
		return r.GetName()
	default:
		return ""
	}
}
