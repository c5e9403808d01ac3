# kennel — every target delegates to a script under hack/ so that CI, humans and
# the README run exactly the same thing.
SHELL := /usr/bin/env bash

.PHONY: all build test unit e2e lint bench generate verify tools \
	      cluster-up cluster-down demo images release deploy clean chaos

all: build

## build: compile peer-finder and the controller into ./bin
build:
	hack/build.sh

## test: every test — verify, lint, unit tests with -race, e2e on the local control plane
test:
	hack/test.sh

## unit: unit tests only (-race, -short)
unit:
	hack/test.sh unit

## e2e: end-to-end tests against the local control plane
e2e:
	hack/test.sh e2e

## chaos: fault-injection rounds against kennel and the StatefulSet controller (ROUNDS=, SEED=, KINDS=; docs/reliability.md)
chaos:
	hack/chaos.sh

## lint: gofmt, go vet, staticcheck (pinned in hack/tools/lint)
lint:
	hack/lint.sh

## bench: Go benchmarks and side-by-side comparisons
bench:
	hack/bench.sh

## generate: regenerate deepcopy, clientset, listers, informers and the CRD
generate:
	hack/update-codegen.sh

## verify: fail if generated code is stale
verify:
	hack/verify-codegen.sh

## cluster-up / cluster-down: a local control plane on 127.0.0.1
cluster-up:
	hack/cluster-up.sh

cluster-down:
	hack/cluster-down.sh

## demo: the README's first command
demo:
	hack/demo.sh

## images: assemble OCI images of the binaries (no Docker engine needed)
images:
	hack/images.sh

## release: kubectl-petset archives per platform and the krew manifest in _output/release
release:
	hack/release.sh

## deploy: install CRD, RBAC and controller into the cluster of $KUBECONFIG
deploy:
	hack/deploy.sh

clean:
	rm -rf bin
