// Package ui is a live page of a running streaming job: Spark's Streaming tab, for
// a dstream.Context, as an http.Handler to mount on your own server.
//
//	mux := http.NewServeMux()
//	mux.Handle("/", ui.Handler(ssc)) // before ssc.Run, to see every batch
//	// or, with no server of your own:
//	url, err := ui.Serve(ctx, "127.0.0.1:4040", ui.Handler(ssc))
//
// The page at "/" shows
//
//   - a summary: running since, the batch interval, the batches completed and
//     failed, the records read, the last error (and the last checkpoint failure
//     and unavailable input, if any);
//   - the progress of long work (state restores, catch-up) that reports it
//     (dstream.Progress), with its percentage and the time it has left;
//   - timelines and histograms, as in Spark, of the input rate (of each input),
//     the scheduling delay, the processing time and the total delay of the last
//     completed batches (RetainedBatches, default 1000 as Spark's); a point of a
//     timeline links to its batch;
//   - for an input that reads a partitioned log (Kafka's direct stream), each
//     partition's offsets, log end, lag (the records left after the batch) and rate
//     limit, as a table and as plots over the batches;
//   - the active batches (queued and processing) and the completed ones: time,
//     records, delays, outputs, error.
//
// Each batch has a page, "batch/<time in RFC 3339>": its delays, its output
// operations with their durations and errors, the records of each input, the offset
// range of every partition it read, and the number of keys of each stateful stream
// after it.
//
// The charts are SVG drawn by the server; the page's style and its small script
// are embedded in the package, so the page works offline and needs no chart
// library. The script asks the server for what changed every second (Refresh) and
// updates the page without reloading it; without the script the page is still
// whole, as of when it was loaded.
//
// The page shows what its listener (added by Handler with Context.AddListener)
// hears: the batches from the call on, and their times by the Context's clock.
// Unlike Spark's page, it shows Kafka lag and rate limits and the progress of long
// work, and it has no separate jobs and stages: a batch's outputs run in this
// process.
package ui
