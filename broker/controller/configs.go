package controller

import (
	"context"
	"maps"
	"slices"
	"strconv"
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
// INVALID_REQUEST. Broker resources (a node id, or "" for the cluster
// default) take only the dynamic broker configs Rules.BrokerConfig accepts
// (the replication throttles); any other key is INVALID_REQUEST, since
// Runnel's broker configs are static. A resource's changes apply all or
// none; ValidateOnly checks without writing. A topic that now allows
// unclean leader elections gets them at once for its partitions without a
// leader, in the same entry.
func (c *Controller) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	errs := c.alterConfigs(ctx, req.Resources, req.ValidateOnly, false)
	for i, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(errs[i])
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// alterConfigs checks and applies config changes per resource; with
// replace, keys the ops do not name are deleted (AlterConfigs).
func (c *Controller) alterConfigs(ctx context.Context, resources []kmsg.IncrementalAlterConfigsRequestResource, validateOnly, replace bool) []error {
	type key struct {
		t    kmsg.ConfigResourceType
		name string
	}
	seen := map[key]int{}
	for _, r := range resources {
		seen[key{r.ResourceType, r.ResourceName}]++
	}
	return c.operate(ctx, len(resources), validateOnly, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		r := resources[i]
		switch {
		case seen[key{r.ResourceType, r.ResourceName}] > 1:
			return nil, placementErr(kerr.InvalidRequest, "Duplicate resource.")
		case r.ResourceType == kmsg.ConfigResourceTypeBroker:
			if id, err := strconv.ParseInt(r.ResourceName, 10, 32); r.ResourceName != "" && (err != nil || id < 0 || strconv.FormatInt(id, 10) != r.ResourceName) {
				return nil, placementErr(kerr.InvalidRequest, "Invalid broker resource name %q.", r.ResourceName)
			}
			return c.alterConfigsOf(img, metadata.ConfigResource{Type: metadata.ResourceBroker, Name: r.ResourceName}, r.Configs, replace, c.checkBrokerConfig)
		case r.ResourceType != kmsg.ConfigResourceTypeTopic:
			return nil, placementErr(kerr.InvalidRequest, "Unsupported resource type %v.", r.ResourceType)
		}
		if _, ok := img.Topic(r.ResourceName); !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "Topic %s does not exist.", r.ResourceName)
		}
		records, err := c.alterConfigsOf(img, metadata.ConfigResource{Type: metadata.ResourceTopic, Name: r.ResourceName}, r.Configs, replace, c.checkTopicConfig)
		if err != nil {
			return nil, err
		}
		next, err := img.ApplyAll(records)
		if err != nil {
			return nil, placementErr(kerr.InvalidConfig, "%v", err)
		}
		return append(records, c.uncleanElections(next, r.ResourceName)...), nil
	})
}

// checkBrokerConfig accepts the dynamic broker configs of Rules.BrokerConfig.
func (c *Controller) checkBrokerConfig(key, value string) error {
	if c.cfg.Rules.BrokerConfig == nil {
		return placementErr(kerr.InvalidRequest, "Broker configs are static in Runnel.")
	}
	dynamic, err := c.cfg.Rules.BrokerConfig(key, value)
	switch {
	case !dynamic:
		return placementErr(kerr.InvalidRequest, "Cannot update these configs dynamically: %s (Runnel's broker configs are static but for the replication throttles).", key)
	case err != nil:
		return placementErr(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// AlterConfigs replaces topics' config overrides with the request's, as
// the legacy AlterConfigs does: keys set before and not in the request go
// back to their defaults. Errors are as IncrementalAlterConfigs's; a null
// value is INVALID_CONFIG.
func (c *Controller) AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	// The same checks as IncrementalAlterConfigs: SET each given key,
	// DELETE every other key set now.
	inc := make([]kmsg.IncrementalAlterConfigsRequestResource, len(req.Resources))
	for i, r := range req.Resources {
		inc[i] = kmsg.NewIncrementalAlterConfigsRequestResource()
		inc[i].ResourceType, inc[i].ResourceName = r.ResourceType, r.ResourceName
		for _, cfg := range r.Configs {
			op := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			op.Name, op.Op, op.Value = cfg.Name, kmsg.IncrementalAlterConfigOpSet, cfg.Value
			inc[i].Configs = append(inc[i].Configs, op)
		}
	}
	errs := c.alterConfigs(ctx, inc, req.ValidateOnly, true)
	for i, r := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(errs[i])
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// alterConfigsOf returns the ConfigRecords of one resource's ops, each
// value checked with check, and with replace a deletion of every other key
// set now.
func (c *Controller) alterConfigsOf(img *metadata.Image, res metadata.ConfigResource, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, replace bool, check func(key, value string) error) ([]metadata.Record, error) {
	var out []metadata.Record
	seen := map[string]bool{}
	for _, op := range ops {
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
			current, set := img.Config(res, op.Name)
			if !set && c.cfg.Rules.Default != nil {
				current = c.cfg.Rules.Default(op.Name)
			}
			rec.Value = EditList(current, *op.Value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return nil, placementErr(kerr.InvalidRequest, "Unknown op %d for %s.", op.Op, op.Name)
		}
		if !rec.Deleted {
			if err := check(rec.Name, rec.Value); err != nil {
				return nil, err
			}
		}
		out = append(out, rec)
	}
	if replace {
		for _, k := range slices.Sorted(maps.Keys(maps.Collect(img.Configs(res)))) {
			if !seen[k] {
				out = append(out, &metadata.ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: k, Deleted: true})
			}
		}
	}
	return out, nil
}

// EditList appends to a comma-separated list the items of change it lacks, or removes them
// from it: IncrementalAlterConfigs' APPEND and SUBTRACT on a list-type config. The broker's
// single-node handler uses it too, so both answer alike.
func EditList(list, change string, appendItems bool) string {
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
