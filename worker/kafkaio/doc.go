// Package kafkaio is the Kafka plumbing shared by the worker, replay and
// bulk-link: how to reach the brokers (TLS, SASL), a connection check that
// fails fast with an operator's message, the acks=all writer, the consumer
// group settings, the group join loop, the "caught up"
// check and bounded closing.
//
// It is not a Kafka client of its own (that is segmentio/kafka-go) and knows
// nothing of events, Gigya or dead letters.
package kafkaio
