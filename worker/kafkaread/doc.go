// Package kafkaread reads Kafka the way the worker needs it and kafka-go's
// Reader does not: one partition with read_committed as Kafka defines it
// (records of aborted transactions dropped, control batches recognised by
// their attribute and never delivered, nothing past the last stable
// offset), header values kept byte-exact (an empty value stays empty, not
// null), and an explicit, reported reset when the offset fell out of the
// log. Topics watches which of the consumed topics exist.
//
// It speaks the Kafka protocol through kafka-go's Transport and protocol
// packages (fetch, list offsets, metadata); kafka-go stays the Kafka
// library. It is NOT a consumer group: the worker's kafka.ConsumerGroup
// assigns partitions and commits offsets; a Reader only reads the one
// partition it is given, from the offset it is given.
package kafkaread
