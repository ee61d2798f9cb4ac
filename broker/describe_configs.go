package broker

// DescribeConfigs, versions 0-4.
//
// Topic resources: every topic config Runnel knows (or the ones named),
// with its effective value and source: DYNAMIC_TOPIC_CONFIG when set on
// the topic, STATIC_BROKER_CONFIG when server.properties sets the broker
// synonym, DEFAULT_CONFIG otherwise; synonyms (v1+) list that chain, type
// and documentation (v3+) come from the config table. An unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION. Broker resources (this node's id, or ""):
// the broker properties Runnel reads, all read-only but for the
// replication throttles (dynamic). Other resource types
// are INVALID_REQUEST.

import (
	"cmp"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DescribeConfigs.Int16(), minVersion: 0, maxVersion: 4, handle: handleDescribeConfigs})
}

// configEntry is one described config.
type configEntry struct {
	name     string
	value    string
	source   kmsg.ConfigSource
	typ      kmsg.ConfigType
	doc      string
	readOnly bool
	synonyms []configSynonym
}

type configSynonym struct {
	name   string
	value  string
	source kmsg.ConfigSource
}

// topicConfigEntries describes a topic's settings, in name order.
func topicConfigEntries(b *Broker, s *topicSettings) []configEntry {
	entries := make([]configEntry, 0, len(topicConfigDefs))
	for _, def := range topicConfigDefs {
		e := configEntry{name: def.name, value: s.values[def.name], source: kmsg.ConfigSourceDefaultConfig, typ: def.typ, doc: def.doc}
		if v, ok := s.overrides[def.name]; ok {
			e.source = kmsg.ConfigSourceDynamicTopicConfig
			e.synonyms = append(e.synonyms, configSynonym{def.name, v, kmsg.ConfigSourceDynamicTopicConfig})
		}
		if v, ok := b.cfg.TopicDefaults[def.name]; ok {
			if e.source == kmsg.ConfigSourceDefaultConfig {
				e.source = kmsg.ConfigSourceStaticBrokerConfig
			}
			e.synonyms = append(e.synonyms, configSynonym{def.synonym, v, kmsg.ConfigSourceStaticBrokerConfig})
		}
		e.synonyms = append(e.synonyms, configSynonym{cmp.Or(def.synonym, def.name), def.kafkaDflt, kmsg.ConfigSourceDefaultConfig})
		entries = append(entries, e)
	}
	return entries
}

// brokerConfigEntries describes the broker's properties.
func brokerConfigEntries(b *Broker) []configEntry {
	dflt := DefaultConfig()
	defaults := map[string]string{}
	for _, kv := range dflt.describe() {
		defaults[kv[0]] = kv[1]
	}
	var entries []configEntry
	for _, kv := range b.cfg.describe() {
		e := configEntry{name: kv[0], value: kv[1], source: kmsg.ConfigSourceStaticBrokerConfig, typ: kmsg.ConfigTypeString, readOnly: true}
		if d, ok := defaults[kv[0]]; ok && d == kv[1] {
			e.source = kmsg.ConfigSourceDefaultConfig
		}
		e.synonyms = []configSynonym{{e.name, e.value, e.source}}
		entries = append(entries, b.withDynamicRate(e))
	}
	return entries
}

func handleDescribeConfigs(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DescribeConfigsRequest)
	resp := msg.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range msg.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.topic(rr.ResourceName)
			if t == nil {
				err := validateTopicName(rr.ResourceName)
				if err == nil {
					err = kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", rr.ResourceName)
				}
				res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
				break
			}
			entries = topicConfigEntries(b, t.settings.Load())
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				err := kafkaErr(kerr.InvalidRequest, "broker %q is not this broker (%d)", rr.ResourceName, b.cfg.NodeID)
				res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
				break
			}
			entries = brokerConfigEntries(b)
		default:
			err := kafkaErr(kerr.InvalidRequest, "resource type %v is not supported", rr.ResourceType)
			res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !contains(rr.ConfigNames, e.name) {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.Source, c.ConfigType = e.name, kmsg.StringPtr(e.value), e.readOnly, e.source, e.typ
			c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
			if msg.IncludeSynonyms {
				for _, s := range e.synonyms {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					syn.Name, syn.Value, syn.Source = s.name, kmsg.StringPtr(s.value), s.source
					c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
				}
			}
			if msg.IncludeDocumentation && e.doc != "" {
				c.Documentation = kmsg.StringPtr(e.doc)
			}
			res.Configs = append(res.Configs, c)
		}
		resp.Resources = append(resp.Resources, res)
	}
	r.finish(resp)
	return r
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
