#!/usr/bin/env bash
# Installs versitygw v1.8.0 (Apache-2.0), the S3-compatible server the s3
# integration tests start on loopback, into $(go env GOPATH)/bin unless that
# exact version is already there. Cold, this takes about 3.5 minutes.
set -euo pipefail
version=v1.8.0
bin="$(go env GOPATH)/bin/versitygw"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*github.com/versity/versitygw[[:space:]]*$version"; then
	exit 0
fi
go install "github.com/versity/versitygw/cmd/versitygw@$version"
