package main

type replayCmd struct{}

func (replayCmd) Run(e *env) error { return usagef("not implemented yet") }
