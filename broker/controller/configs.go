package controller

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// IncrementalAlterConfigs changes topic configs: SET a value, DELETE a key
// (back to the default), APPEND to or SUBTRACT from a list config (others
// are INVALID_CONFIG for those ops); each resulting value is checked with
// Rules.TopicConfig (INVALID_CONFIG). An unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION, a resource or key given twice
// INVALID_REQUEST; broker configs are static in Runnel (INVALID_REQUEST).
// A resource's changes apply all or none; ValidateOnly checks without
// writing.
func (c *Controller) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	type key struct {
		t    kmsg.ConfigResourceType
		name string
	}
	seen := map[key]int{}
	for _, r := range req.Resources {
		seen[key{r.ResourceType, r.ResourceName}]++
	}
	errs := c.operate(ctx, len(req.Resources), req.ValidateOnly, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		r := req.Resources[i]
		switch {
		case seen[key{r.ResourceType, r.ResourceName}] > 1:
			return nil, placementErr(kerr.InvalidRequest, "Duplicate resource.")
		case r.ResourceType == kmsg.ConfigResourceTypeBroker:
			return nil, placementErr(kerr.InvalidRequest, "Broker configs are static in Runnel.")
		case r.ResourceType != kmsg.ConfigResourceTypeTopic:
			return nil, placementErr(kerr.InvalidRequest, "Unsupported resource type %v.", r.ResourceType)
		}
		if _, ok := img.Topic(r.ResourceName); !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "Topic %s does not exist.", r.ResourceName)
		}
		return c.alterTopicConfigs(img, r)
	})
	for i, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(errs[i])
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// alterTopicConfigs returns the ConfigRecords of one resource's ops.
func (c *Controller) alterTopicConfigs(img *metadata.Image, r kmsg.IncrementalAlterConfigsRequestResource) ([]metadata.Record, error) {
	res := metadata.ConfigResource{Type: metadata.ResourceTopic, Name: r.ResourceName}
	var out []metadata.Record
	seen := map[string]bool{}
	for _, op := range r.Configs {
		if seen[op.Name] {
			return nil, placementErr(kerr.InvalidRequest, "Duplicate config key %s.", op.Name)
		}
		seen[op.Name] = true
		rec := &metadata.ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: op.Name}
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return nil, placementErr(kerr.InvalidConfig, "Null value not supported for %s.", op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			rec.Value = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			rec.Deleted = true
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if c.cfg.Rules.ListConfig == nil || !c.cfg.Rules.ListConfig(op.Name) {
				return nil, placementErr(kerr.InvalidConfig, "%v applies to list configs only, not %s.", op.Op, op.Name)
			}
			current, _ := img.Config(res, op.Name)
			rec.Value = editList(current, *op.Value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return nil, placementErr(kerr.InvalidRequest, "Unknown op %d for %s.", op.Op, op.Name)
		}
		if !rec.Deleted {
			if err := c.checkTopicConfig(rec.Name, rec.Value); err != nil {
				return nil, err
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// editList appends to a comma-separated list the items of change it lacks,
// or removes them from it.
func editList(list, change string, appendItems bool) string {
	var items []string
	for it := range strings.SplitSeq(list, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	for it := range strings.SplitSeq(change, ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		i := slices.Index(items, it)
		switch {
		case appendItems && i < 0:
			items = append(items, it)
		case !appendItems && i >= 0:
			items = slices.Delete(items, i, i+1)
		}
	}
	return strings.Join(items, ",")
}
