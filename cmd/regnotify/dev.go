package main

type devCmd struct{}

func (devCmd) Run(e *env) error { return usagef("not implemented yet") }
