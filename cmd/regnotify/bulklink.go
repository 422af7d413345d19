package main

type bulkLinkCmd struct{}

func (bulkLinkCmd) Run(e *env) error { return usagef("not implemented yet") }
