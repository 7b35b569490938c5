package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// s3TusPrefix is the key prefix of the resumable S3 gateways under test.
const s3TusPrefix = "store/"

// startS3TusGateway starts a gateway whose site is the valet gate,
// valet_s3_resumable and reverse_proxy with the s3 transport, on one
// bucket of store. handler goes into the valet_s3_resumable block.
func startS3TusGateway(t testing.TB, store *versity, k *keys, gateOptions, handler string) *tusGateway {
	t.Helper()
	g := &storeGateway{addr: testenv.Addr(testenv.FreePort(t)), keys: k}
	creds := "access_key_id " + s3Access + "\n\t\tsecret_access_key " + s3Secret
	caddyfile := fmt.Sprintf(`http://%s {
	valet {
		key hs1 hs256 {file.%s}
		%s
	}
	valet_s3_resumable {
		bucket %s
		endpoint http://%s
		prefix %s
		%s
		temp_dir %s
		%s
	}
	reverse_proxy %s {
		transport s3 {
			bucket %s
			prefix %s
			access_key_id %s
			secret_access_key %s
		}
	}
}
`, g.addr, k.hsFile, gateOptions, s3Bucket, store.addr, s3TusPrefix, creds, t.TempDir(), handler,
		store.addr, s3Bucket, s3TusPrefix, s3Access, s3Secret)
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.addr+"/")
	return &tusGateway{storeGateway: g}
}

// bucketClient is the test's own view of the bucket, past the gateway.
type bucketClient struct{ *s3.Client }

func newBucketClient(store *versity) bucketClient {
	return bucketClient{s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String("http://" + store.addr),
		UsePathStyle:               true,
		Credentials:                awscreds.NewStaticCredentialsProvider(s3Access, s3Secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})}
}

// uploads lists the multipart uploads in progress on key.
func (b bucketClient) uploads(t *testing.T, key string) int {
	t.Helper()
	res, err := b.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s3Bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	n := 0
	for _, u := range res.Uploads {
		if aws.ToString(u.Key) == key {
			n++
		}
	}
	return n
}

// object is the content of key; found is false when there is none.
func (b bucketClient) object(t *testing.T, key string) (string, bool) {
	t.Helper()
	res, err := b.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key)})
	if err != nil {
		var nf interface{ ErrorCode() string }
		if errors.As(err, &nf) && (nf.ErrorCode() == "NoSuchKey" || nf.ErrorCode() == "NotFound") {
			return "", false
		}
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), true
}

func (b bucketClient) put(t *testing.T, key, content string) {
	t.Helper()
	_, err := b.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key), Body: strings.NewReader(content)})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

// state lists the objects under the uploads' state prefix.
func (b bucketClient) state(t *testing.T) []string {
	t.Helper()
	res, err := b.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(s3Bucket), Prefix: aws.String(s3TusPrefix + ".valet-tus/")})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	var keys []string
	for _, o := range res.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// settled checks that an upload at path left nothing behind: no multipart
// upload, no state object, and at the destination exactly want (absent
// when want is "").
func (b bucketClient) settled(t *testing.T, path, want string) {
	t.Helper()
	key := s3TusPrefix + strings.TrimPrefix(path, "/")
	eventually(t, 5*time.Second, func() bool { return b.uploads(t, key) == 0 && len(b.state(t)) == 0 },
		"no multipart upload and no state left for "+path)
	got, found := b.object(t, key)
	if want == "" && found {
		t.Fatalf("an object (%d bytes) is at %s", len(got), key)
	}
	if want != "" && got != want {
		t.Fatalf("%s holds %d bytes, want %d", key, len(got), len(want))
	}
}

// clear aborts every multipart upload and removes every state object.
func (b bucketClient) clear(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	res, err := b.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s3Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range res.Uploads {
		b.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s3Bucket), Key: u.Key, UploadId: u.UploadId})
	}
	for _, k := range b.state(t) {
		b.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(k)})
	}
}
