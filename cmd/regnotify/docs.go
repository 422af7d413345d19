package main

type docsCmd struct{}

func (docsCmd) Run(e *env) error { return usagef("not implemented yet") }
