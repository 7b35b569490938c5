package valetstore

import (
	"context"

	"go.uber.org/zap"
	"golang.org/x/exp/slog"
)

// errorLogger hands tusd's errors to the store's zap logger and drops the
// rest: tusd logs every request at info level, and the store logs its own
// decisions with the token id.
func errorLogger(l *zap.Logger) *slog.Logger {
	return slog.New(zapErrors{l})
}

type zapErrors struct{ l *zap.Logger }

func (z zapErrors) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelError }

func (z zapErrors) Handle(_ context.Context, r slog.Record) error {
	fields := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, zap.String(a.Key, a.Value.String()))
		return true
	})
	z.l.Error(r.Message, fields...)
	return nil
}

func (z zapErrors) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make([]zap.Field, 0, len(attrs))
	for _, a := range attrs {
		fields = append(fields, zap.String(a.Key, a.Value.String()))
	}
	return zapErrors{z.l.With(fields...)}
}

func (z zapErrors) WithGroup(name string) slog.Handler { return zapErrors{z.l.Named(name)} }
