package s3

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// maxListBody bounds the ListObjectsV2 document read for one page: 1000
// keys of at most 1024 bytes each, with room for the XML around them.
const maxListBody = 4 << 20

// listResult is the part of a ListObjectsV2 answer the gateway uses.
type listResult struct {
	Prefix                string `xml:"Prefix"`
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	Contents              []struct {
		Key          string `xml:"Key"`
		Size         int64  `xml:"Size"`
		ETag         string `xml:"ETag"`
		LastModified string `xml:"LastModified"`
	} `xml:"Contents"`
	CommonPrefixes []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
}

// Listing is the JSON a client gets for a GET on a path ending in "/":
// one level of the tree, names relative to Path.
type Listing struct {
	Path    string        `json:"path"`
	Objects []ListedEntry `json:"objects"`
	Dirs    []string      `json:"dirs"`
	// Next, when present, is passed as ?cursor= to get the next page.
	Next string `json:"next,omitempty"`
}

// ListedEntry is one object in a Listing.
type ListedEntry struct {
	Name         string `json:"name"`
	Size         int64  `json:"size"`
	ETag         string `json:"etag"`
	LastModified string `json:"last_modified"`
}

// listing renders a ListObjectsV2 answer as a Listing.
func (t *Transport) listing(r, out *http.Request, res *http.Response) *http.Response {
	defer res.Body.Close()
	var doc listResult
	prefix := out.URL.Query().Get("prefix")
	if err := xml.NewDecoder(io.LimitReader(res.Body, maxListBody)).Decode(&doc); err != nil || doc.Prefix != prefix {
		t.logger.Error("S3 listing could not be read", zap.String("bucket", t.Bucket), zap.Error(err))
		return textResponse(r, http.StatusBadGateway, "bad gateway")
	}
	l := Listing{Path: r.URL.Path, Objects: []ListedEntry{}, Dirs: []string{}}
	for _, c := range doc.Contents {
		name, ok := strings.CutPrefix(c.Key, prefix)
		if !ok || name == "" { // the directory marker itself
			continue
		}
		l.Objects = append(l.Objects, ListedEntry{Name: name, Size: c.Size, ETag: c.ETag, LastModified: c.LastModified})
	}
	for _, p := range doc.CommonPrefixes {
		if name, ok := strings.CutPrefix(p.Prefix, prefix); ok && name != "" {
			l.Dirs = append(l.Dirs, name)
		}
	}
	if doc.IsTruncated {
		l.Next = doc.NextContinuationToken
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // served as JSON with nosniff, never as HTML
	if err := enc.Encode(l); err != nil {
		return textResponse(r, http.StatusInternalServerError, "internal server error")
	}
	body := buf.String()
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":           {"application/json"},
			"Content-Length":         {strconv.Itoa(len(body))},
			"Cache-Control":          {"no-store"},
			"X-Content-Type-Options": {"nosniff"},
		},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}
