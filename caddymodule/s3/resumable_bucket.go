package s3

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
)

// tusKeys is the layout of resumable uploads in the bucket, below the
// key prefix:
//
//	<prefix><rel>                           the destination: the multipart upload's key
//	<prefix>.valet-tus/<hash>/<rel>.info    tusd's state of the upload (JSON FileInfo)
//	<prefix>.valet-tus/<hash>/<rel>.part    bytes not yet a full part
//
// where <hash> is valetstore.UploadID(jti, rel), so state is per token and
// destination. tusd's object id is "<hash>/<rel>"; tusd names the final
// object <prefix>.valet-tus/objects/<hash>/<rel>, which bucketView maps to
// the destination.
type tusKeys struct{ prefix string }

// stateDir starts every key of the uploads' state.
const stateDir = valetstore.TempPrefix + "tus/"

func (k tusKeys) state() string   { return k.prefix + stateDir }
func (k tusKeys) objects() string { return k.state() + "objects/" }

func (k tusKeys) objectID(jti, rel string) string { return valetstore.UploadID(jti, rel) + "/" + rel }
func (k tusKeys) info(objectID string) string     { return k.state() + objectID + ".info" }

// destination maps the key tusd gives the final object to the key the
// upload completes into; ok is false for every other key.
func (k tusKeys) destination(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.objects())
	if !ok {
		return "", false
	}
	_, rel, ok := strings.Cut(rest, "/")
	if !ok || rel == "" {
		return "", false
	}
	return k.prefix + rel, true
}

// splitID splits a tus id into tusd's object id and the multipart upload id.
func splitID(id string) (objectID, multipartID string) {
	i := strings.LastIndex(id, "+")
	if i < 0 {
		return "", ""
	}
	return id[:i], id[i+1:]
}

// bucketView is the bucket as tusd's s3store sees it: the final object's
// key is the destination, a completion is left to bucketBackend.Finish
// (which judges the grant when it completes), and nothing tusd asks for
// ever deletes or writes a destination object: s3store's Terminate deletes
// the object key too, which here would be the user's existing file.
type bucketView struct {
	s3store.S3API
	keys tusKeys
}

// errDestination refuses a write of a destination key other than by the
// multipart upload; s3store issues none for the features in use.
var errDestination = errors.New("resumable: tusd may not write a destination object")

func (b *bucketView) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opt ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	c := *in
	c.Metadata = nil // the tus metadata (the jti among it) stays in the .info object
	c.Key = b.key(c.Key)
	return b.S3API.CreateMultipartUpload(ctx, &c, opt...)
}

func (b *bucketView) UploadPart(ctx context.Context, in *s3.UploadPartInput, opt ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	c := *in
	c.Key = b.key(c.Key)
	return b.S3API.UploadPart(ctx, &c, opt...)
}

func (b *bucketView) ListParts(ctx context.Context, in *s3.ListPartsInput, opt ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	c := *in
	c.Key = b.key(c.Key)
	return b.S3API.ListParts(ctx, &c, opt...)
}

func (b *bucketView) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opt ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	c := *in
	c.Key = b.key(c.Key)
	return b.S3API.AbortMultipartUpload(ctx, &c, opt...)
}

// CompleteMultipartUpload completes nothing: bucketBackend.Finish does,
// right after, with the grant's overwrite rule (If-None-Match).
func (b *bucketView) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (b *bucketView) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opt ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c := *in
	c.Key = b.key(c.Key)
	return b.S3API.HeadObject(ctx, &c, opt...)
}

func (b *bucketView) GetObject(ctx context.Context, in *s3.GetObjectInput, opt ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c := *in
	c.Key = b.key(c.Key)
	return b.S3API.GetObject(ctx, &c, opt...)
}

func (b *bucketView) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if _, ok := b.keys.destination(deref(in.Key)); ok {
		return nil, errDestination
	}
	return b.S3API.PutObject(ctx, in, opt...)
}

func (b *bucketView) UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	return nil, errDestination // concatenation is off
}

func (b *bucketView) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opt ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if _, ok := b.keys.destination(deref(in.Key)); ok {
		return &s3.DeleteObjectOutput{}, nil
	}
	return b.S3API.DeleteObject(ctx, in, opt...)
}

// DeleteObjects drops the destination from s3store's Terminate: a
// cancelled upload takes its parts and state, never the file already there.
func (b *bucketView) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opt ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	c := *in
	d := *in.Delete
	d.Objects = nil
	for _, o := range in.Delete.Objects {
		if _, ok := b.keys.destination(deref(o.Key)); !ok {
			d.Objects = append(d.Objects, o)
		}
	}
	if len(d.Objects) == 0 {
		return &s3.DeleteObjectsOutput{}, nil
	}
	c.Delete = &d
	return b.S3API.DeleteObjects(ctx, &c, opt...)
}

// key is the key as the bucket names it (a new pointer: tusd's input
// stays as it was).
func (b *bucketView) key(key *string) *string {
	if key == nil {
		return nil
	}
	if dest, ok := b.keys.destination(*key); ok {
		return &dest
	}
	return key
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var _ s3store.S3API = (*bucketView)(nil)
