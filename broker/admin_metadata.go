package broker

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
)

// metadataStatus is GET /v1/metadata on the admin listener: the metadata
// offset of the image this broker serves and the image's Hash, so that a
// test or an operator can see whether brokers hold the same metadata.
type metadataStatus struct {
	Offset int64  `json:"offset"` // -1 before any image
	Hash   string `json:"hash"`   // hex SHA-256 (metadata.Image.Hash)
}

// serveMetadataStatus answers GET /v1/metadata. The offset is read before
// the image, which is published before its offset: the image is the one at
// that offset or a newer one.
func (b *Broker) serveMetadataStatus(w http.ResponseWriter, _ *http.Request) {
	offset := b.AppliedOffset()
	h := b.image().Hash()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(metadataStatus{Offset: offset, Hash: hex.EncodeToString(h[:])})
}
