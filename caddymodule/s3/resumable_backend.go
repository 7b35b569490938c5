package s3

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
)

// bucketBackend keeps resumable uploads in the bucket (valetstore's
// TusBackend): tusd's s3store over bucketView for the protocol, the real
// client for what only the store decides (completion, lookups, sweeps).
type bucketBackend struct {
	client *s3.Client
	store  s3store.S3Store
	bucket string
	keys   tusKeys
}

var _ valetstore.TusBackend = (*bucketBackend)(nil)

func (b *bucketBackend) UseIn(c *tusd.StoreComposer) { b.store.UseIn(c) }

func (b *bucketBackend) NewID(jti, rel string) string { return b.keys.objectID(jti, rel) }

// Find reads the upload's .info object: its ID holds the multipart upload
// id, which only the bucket knows. State in the bucket is what lets
// several gateways share uploads with nothing else in common.
func (b *bucketBackend) Find(ctx context.Context, jti, rel string) (string, bool) {
	info, err := b.readInfo(ctx, b.keys.info(b.keys.objectID(jti, rel)))
	return info.ID, err == nil && info.ID != ""
}

func (b *bucketBackend) readInfo(ctx context.Context, key string) (tusd.FileInfo, error) {
	var info tusd.FileInfo
	res, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return info, err
	}
	defer res.Body.Close()
	err = json.NewDecoder(res.Body).Decode(&info)
	return info, err
}

// Check refuses a creation whose destination exists, without overwrite.
func (b *bucketBackend) Check(ctx context.Context, rel string, overwrite bool) (valetstore.Reason, error) {
	if overwrite {
		return "", nil
	}
	_, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.keys.prefix + rel)})
	switch {
	case err == nil:
		return valetstore.Exists, nil
	case notFound(err):
		return "", nil
	default:
		return valetstore.StoreError, err
	}
}

// Finish completes the multipart upload into the destination. Without
// overwrite it asks for If-None-Match: *, so an object that appeared
// while the upload ran stays, and the store decides atomically.
func (b *bucketBackend) Finish(ctx context.Context, up tusd.FileInfo, rel string, overwrite bool) (string, valetstore.Reason, error) {
	_, multipartID := splitID(up.ID)
	key := b.keys.prefix + rel
	parts, err := b.parts(ctx, key, multipartID)
	if err != nil {
		return "", valetstore.StoreError, err
	}
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{ETag: p.ETag, PartNumber: p.PartNumber}
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &b.bucket, Key: &key, UploadId: &multipartID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	}
	if !overwrite {
		in.IfNoneMatch = aws.String("*")
	}
	res, err := b.client.CompleteMultipartUpload(ctx, in)
	switch {
	case err == nil:
		return aws.ToString(res.ETag), "", nil
	case errorCode(err) == "PreconditionFailed":
		return "", valetstore.Exists, nil
	default:
		return "", valetstore.StoreError, err
	}
}

// parts lists every part of a multipart upload, in order.
func (b *bucketBackend) parts(ctx context.Context, key, multipartID string) ([]types.Part, error) {
	var parts []types.Part
	in := &s3.ListPartsInput{Bucket: &b.bucket, Key: &key, UploadId: &multipartID}
	for {
		res, err := b.client.ListParts(ctx, in)
		if err != nil {
			return nil, err
		}
		parts = append(parts, res.Parts...)
		if !aws.ToBool(res.IsTruncated) {
			return parts, nil
		}
		in.PartNumberMarker = res.NextPartNumberMarker
	}
}

// Terminate aborts the multipart upload and removes the state, through
// s3store and bucketView (which keeps the destination).
func (b *bucketBackend) Terminate(ctx context.Context, id string) error {
	up, err := b.store.GetUpload(ctx, id)
	if err != nil {
		return nil // not an id s3store could have made: nothing to remove
	}
	return b.store.AsTerminatableUpload(up).Terminate(ctx)
}

// LastWrite is the newest of the .info and .part objects and the parts,
// rounded up to the next second.
func (b *bucketBackend) LastWrite(ctx context.Context, id string) (time.Time, bool) {
	objectID, multipartID := splitID(id)
	info, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.keys.info(objectID))})
	if err != nil {
		return time.Time{}, false
	}
	last := aws.ToTime(info.LastModified)
	if part, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.keys.state() + objectID + ".part")}); err == nil {
		last = later(last, aws.ToTime(part.LastModified))
	}
	if dest, ok := b.keys.destination(b.keys.objects() + objectID); ok {
		parts, _ := b.parts(ctx, dest, multipartID) // none after an abort
		for _, p := range parts {
			last = later(last, aws.ToTime(p.LastModified))
		}
	}
	// S3 dates are whole seconds, cut down: round up, so an upload never
	// expires early.
	return last.Truncate(time.Second).Add(time.Second), true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Unfinished lists the uploads by their .info objects, and removes a
// .part left without one (a crash mid-termination) once stale.
func (b *bucketBackend) Unfinished(ctx context.Context, staleBefore time.Time) ([]string, error) {
	infos := map[string]bool{}
	parts := map[string]time.Time{}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.keys.state())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if objectID, ok := strings.CutSuffix(key, ".info"); ok {
				infos[objectID] = true
			} else if objectID, ok := strings.CutSuffix(key, ".part"); ok {
				parts[objectID] = aws.ToTime(o.LastModified)
			}
		}
	}
	var ids []string
	for key := range infos {
		if info, err := b.readInfo(ctx, key+".info"); err == nil && info.ID != "" {
			ids = append(ids, info.ID)
		}
	}
	for key, last := range parts {
		if !infos[key] && last.Before(staleBefore) {
			b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(key + ".part")})
		}
	}
	return ids, nil
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func notFound(err error) bool {
	var nf *types.NotFound
	var nk *types.NoSuchKey
	return errors.As(err, &nf) || errors.As(err, &nk) || errorCode(err) == "NotFound" || errorCode(err) == "NoSuchKey"
}
