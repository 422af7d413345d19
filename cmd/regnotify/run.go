package main

type runCmd struct{}

func (runCmd) Run(e *env) error { return usagef("not implemented yet") }
