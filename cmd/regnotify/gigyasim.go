package main

type gigyaSimCmd struct{}

func (gigyaSimCmd) Run(e *env) error { return usagef("not implemented yet") }
