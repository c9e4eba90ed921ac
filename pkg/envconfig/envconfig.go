// Package envconfig reads a service's configuration struct from the environment (caarlos0/env
// tags) and reports every problem by the name of its variable, as an operator sets it.
package envconfig

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/caarlos0/env/v11"
)

// Load fills v (a pointer to a struct with `env` tags) from environ.
func Load(v any, environ map[string]string) error {
	err := env.ParseWithOptions(v, env.Options{Environment: environ})
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	names := varNames(reflect.TypeOf(v).Elem(), "")
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if name, ok := names[pe.Name]; ok {
				errs = append(errs, fmt.Errorf("%s: %w", name, pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// varNames maps field names to their variables, through nested structs.
func varNames(t reflect.Type, prefix string) map[string]string {
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			for k, v := range varNames(f.Type, prefix+f.Tag.Get("envPrefix")) {
				out[k] = v
			}
			continue
		}
		if tag := f.Tag.Get("env"); tag != "" && tag != "-" {
			name := tag
			for j := range len(tag) {
				if tag[j] == ',' {
					name = tag[:j]
					break
				}
			}
			out[f.Name] = prefix + name
		}
	}
	return out
}
