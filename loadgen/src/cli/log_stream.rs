//! `--log FILE` written as the run goes: each second of the HdrHistogram interval log is
//! appended as soon as every worker has reported it, so a day-long run's log is on disk
//! (and under `tail -f`, or `loadgen report`) while it runs, and a run that is killed
//! leaves every second up to the last complete one.
//!
//! Where it goes: the file staged before the run (`staged::stage`, which refused a path
//! that cannot be written before any load) receives the header and second 0, and is
//! then renamed to FILE and written on through the same descriptor. So FILE appears
//! once it holds a readable log, replaces an older FILE only then (not before the run,
//! not at its end), and a killed run leaves it under its own name, not as a hidden
//! temporary. Every second is one `write(2)` of whole lines: a reader sees lines
//! appear, and [`crate::report::read_interval_log`] leaves out a last line caught
//! half-written.
//!
//! At the end, [`LogStream::finish`] makes the file exactly what the end-of-run writer
//! ([`crate::report::write_interval_log`]) makes of the run's intervals: the seconds
//! written stand, except where the run's end changed them (requests censored into a
//! second after it was written, a last interval shorter than a second, one the engine
//! dropped); from the first such second on, the file is cut and written again. The
//! last second of the planned measurement is not streamed but left to the end, which
//! comes with it: the end censors what is still in flight into it after every worker
//! reported it, and the engine may report a second past it (which it drops), so a run
//! that goes to its end is never cut back under a reader. An interrupted one is: its
//! last, partial second was streamed as a whole one.
//!
//! A failed write mid-run stops the streaming (one warning line) and the end writes the
//! whole log.
//!
//! The workers' reports are merged here, as the progress line and the live `--slo`
//! checks merge theirs: every [`Tick`] the engine hands over, in the engine's order.

use crate::engine::Tick;
use crate::error::Error;
use crate::intervals::Merge;
use crate::report::{interval_log_header, interval_log_lines};
use crate::result::{RunResult, StageTargets};
use crate::staged::Staged;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::time::Duration;

/// The interval log of one run, streamed.
pub(super) struct LogStream {
    staged: Staged,
    /// The staged temporary, open for writing; FILE itself once `placed`.
    file: File,
    /// Renamed to FILE (with second 0).
    placed: bool,
    /// The run's target label and protocol, for the header.
    target: String,
    /// A split run's identity line, for the header.
    run: Option<String>,
    proto: String,
    /// `--stages`: a target comment before each interval.
    targets: Option<StageTargets>,
    /// The measured time asked for: the last second of it is left to the end.
    planned: Duration,
    merge: Merge,
    /// The earliest measurement start among the reports of second 0: the StartTime.
    start_unix_s: Option<f64>,
    /// The header as written (`None`: not yet).
    header: Option<Vec<u8>>,
    /// Seconds complete but waiting for an earlier one to be.
    ready: BTreeMap<usize, Histogram<u64>>,
    /// Where each written second's lines begin; as many as seconds written.
    offsets: Vec<u64>,
    /// Bytes written.
    len: u64,
    /// The first written second that a report joined after it was written.
    amended_from: Option<usize>,
    /// Streaming stopped (a write failed, or second 0 came without a start time): the
    /// end writes the whole log.
    stopped: bool,
    serializer: V2DeflateSerializer,
    buf: Vec<u8>,
}

impl LogStream {
    /// Stream into `staged` the log of a run of `target` over `proto` by `workers`
    /// workers, measuring `planned`.
    pub(super) fn new(
        staged: Staged,
        target: &str,
        proto: &str,
        workers: usize,
        targets: Option<StageTargets>,
        (planned, run): (Duration, Option<String>),
    ) -> Result<LogStream, Error> {
        let file = staged.file()?;
        Ok(LogStream {
            staged,
            file,
            placed: false,
            target: target.to_string(),
            proto: proto.to_string(),
            run,
            targets,
            planned,
            merge: Merge::new(workers),
            start_unix_s: None,
            header: None,
            ready: BTreeMap::new(),
            offsets: Vec::new(),
            len: 0,
            amended_from: None,
            stopped: false,
            serializer: V2DeflateSerializer::new(),
            buf: Vec::new(),
        })
    }

    /// One worker's report of one second; writes every second it completes.
    pub(super) fn tick(&mut self, t: &Tick) {
        if self.stopped {
            return; // nothing is kept for the end: it writes from the run's intervals
        }
        if t.index == 0 {
            if let Some(s) = t.measure_start_unix_s {
                self.start_unix_s = Some(self.start_unix_s.map_or(s, |m| m.min(s)));
            }
        }
        if t.index < self.offsets.len() {
            // Written already: the run's end censored into it. `finish` writes it again.
            self.amended_from = Some(self.amended_from.map_or(t.index, |a| a.min(t.index)));
            return;
        }
        if let Some(h) = self.ready.get_mut(&t.index) {
            let _ = h.add(&t.corrected);
            return;
        }
        if let Some(h) = self.merge.add(t.index, &t.corrected) {
            self.ready.insert(t.index, h);
            self.write_ready();
        }
    }

    /// Write the complete seconds that are next in order.
    fn write_ready(&mut self) {
        while !self.stopped {
            let next = self.offsets.len();
            if Duration::from_secs(next as u64 + 1) >= self.planned {
                // The run's last second (and any after it, which the engine drops) is
                // written by `finish`, at the same moment: what was still in flight at
                // the end is censored into it after every worker reported it, so
                // streamed it would be cut off and written again under a `tail -f`.
                return;
            }
            let Some(h) = self.ready.remove(&next) else {
                return;
            };
            if self.header.is_none() && self.start_unix_s.is_none() {
                // Second 0 without a start: the run ended before measuring, and the end
                // has the fallback start time; it writes the log.
                self.stop(None);
                return;
            }
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let written = self
                .lines(&mut buf, next, &h)
                .map_err(|e| self.staged.error(e))
                .and_then(|begin| self.append(&buf).map(|()| begin));
            match written {
                Ok(begin) => {
                    self.offsets.push(begin);
                    self.len += buf.len() as u64;
                    self.buf = buf;
                }
                Err(e) => self.stop(Some(e)),
            }
        }
    }

    /// Into `buf`: the header first if it is not written yet, then second `index`'s
    /// lines; where in the file those begin.
    fn lines(
        &mut self,
        buf: &mut Vec<u8>,
        index: usize,
        h: &Histogram<u64>,
    ) -> std::io::Result<u64> {
        if let (None, Some(start)) = (&self.header, self.start_unix_s) {
            let header =
                interval_log_header(&self.target, &self.proto, self.run.as_deref(), start)?;
            buf.extend_from_slice(&header);
            self.header = Some(header);
        }
        let begin = self.len + buf.len() as u64;
        interval_log_lines(
            buf,
            &mut self.serializer,
            Duration::from_secs(index as u64),
            Duration::from_secs(1),
            h,
            self.targets.as_ref(),
        )?;
        Ok(begin)
    }

    /// Append `bytes` to the file, and put it in place with the first.
    fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(bytes)
            .map_err(|e| self.staged.error(e))?;
        if !self.placed {
            self.staged.commit()?;
            self.placed = true;
        }
        Ok(())
    }

    /// Stop streaming; the end writes the whole log.
    fn stop(&mut self, e: Option<Error>) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.ready.clear();
        self.merge.take_open().for_each(drop);
        if let Some(e) = e {
            // Said now: a long run should not learn at its end that nobody could follow.
            eprintln!("loadgen: {e}; the log is written whole at the end of the run");
        }
    }

    /// The run is over: make FILE what [`crate::report::write_interval_log`] writes for
    /// `r` with `start_unix_s` (the seconds written that stand are kept), and put it in
    /// place if it is not yet.
    pub(super) fn finish(mut self, r: &RunResult, start_unix_s: f64) -> Result<(), Error> {
        if self.stopped && self.placed {
            // A write failed with FILE in place (a full disk): it keeps the seconds it
            // has unless a whole log can be written beside it and renamed over it.
            let mut fresh = crate::staged::stage("--log", self.staged.dest())?;
            let mut f = fresh.file()?;
            crate::report::write_interval_log(r, &mut f, start_unix_s)
                .and_then(|()| f.flush())
                .map_err(|e| fresh.error(e))?;
            return fresh.commit();
        }
        let run = crate::report::identity_line(r);
        let header = interval_log_header(&r.target, &r.proto(), run.as_deref(), start_unix_s)
            .map_err(|e| self.staged.error(e))?;
        let targets = r.stage_targets();
        // The seconds written that are as the end-of-run writer writes them: each a
        // whole second at its place, not joined since; none if the header differs.
        let keep = match &self.header {
            Some(h) if !self.stopped && *h == header && targets == self.targets => {
                let upto = self
                    .offsets
                    .len()
                    .min(self.amended_from.unwrap_or(usize::MAX));
                let stands = |i: usize| {
                    r.intervals.get(i).is_some_and(|iv| {
                        iv.start == Duration::from_secs(i as u64)
                            && iv.length == Duration::from_secs(1)
                    })
                };
                Some((0..upto).find(|&i| !stands(i)).unwrap_or(upto))
            }
            _ => None,
        };
        let (cut, from) = match keep {
            Some(k) => (self.offsets.get(k).copied().unwrap_or(self.len), k),
            None => (0, 0),
        };
        let rest = r.intervals.get(from..).unwrap_or_default();
        let written = (|| {
            self.file.set_len(cut)?;
            self.file.seek(SeekFrom::Start(cut))?;
            let mut w = BufWriter::new(&mut self.file);
            if keep.is_none() {
                w.write_all(&header)?;
            }
            crate::report::write_intervals(&mut w, rest, targets.as_ref())?;
            w.flush()
        })();
        written.map_err(|e| self.staged.error(e))?;
        if !self.placed {
            self.staged.commit()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Totals;
    use crate::intervals::IntervalStore;
    use crate::record::{new_histogram, record_us};
    use crate::report::fixtures;
    use crate::report::{read_interval_log, write_interval_log};
    use crate::result::Interval;
    use std::path::PathBuf;
    use std::sync::Arc;

    const START: f64 = 1_700_000_000.125;

    fn tick(worker: usize, index: usize, values: &[u64], start: Option<f64>) -> Tick {
        let mut corrected = new_histogram();
        for &v in values {
            record_us(&mut corrected, v);
        }
        Tick {
            worker,
            index,
            raw: corrected.clone(),
            corrected,
            completed: values.len() as u64,
            errors: 0,
            totals: Totals::default(),
            measure_start_unix_s: start,
        }
    }

    /// A run's reports as the engine sends them: (worker, second, latencies), the
    /// start times those of workers 0 and 1.
    fn ticks(reports: &[(usize, usize, &[u64])]) -> Vec<Tick> {
        reports
            .iter()
            .map(|&(w, i, v)| tick(w, i, v, Some(START + w as f64 * 0.001)))
            .collect()
    }

    /// The run's intervals as the engine makes them of the same reports: merged by the
    /// store, a second each, only the first `keep`, the last `last_length` long if
    /// given.
    fn intervals(
        ts: &[Tick],
        workers: usize,
        last_length: Option<Duration>,
        keep: usize,
    ) -> Vec<Interval> {
        let mut store = IntervalStore::new(workers);
        for t in ts {
            store.add(t.index, &t.corrected);
        }
        let mut out: Vec<Interval> = store
            .finish()
            .into_iter()
            .enumerate()
            .map(|(k, corrected)| Interval {
                start: Duration::from_secs(k as u64),
                length: Duration::from_secs(1),
                corrected,
            })
            .take(keep)
            .collect();
        if let (Some(l), Some(last)) = (last_length, out.last_mut()) {
            last.length = l;
        }
        out
    }

    struct Case {
        dir: PathBuf,
        dest: PathBuf,
    }

    impl Case {
        fn new(name: &str) -> Case {
            let dir = fixtures::temp_path(&format!("stream-{name}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a test directory");
            let dest = dir.join("run.hlog");
            Case { dir, dest }
        }

        /// A stream for `workers`, of a run planned long (none of its seconds is the
        /// last one, held for the end).
        fn stream(&self, workers: usize, targets: Option<StageTargets>) -> LogStream {
            self.stream_of(workers, targets, Duration::from_secs(3600))
        }

        fn stream_of(
            &self,
            workers: usize,
            targets: Option<StageTargets>,
            planned: Duration,
        ) -> LogStream {
            let staged = crate::staged::stage("--log", &self.dest).expect("staged");
            let target = "http://127.0.0.1:7878/";
            LogStream::new(staged, target, "http", workers, targets, (planned, None))
                .expect("the temporary opens")
        }

        /// What FILE holds now, read back: (start s, length s, count) per interval.
        fn read_now(&self) -> Vec<(f64, f64, u64)> {
            match std::fs::read(&self.dest) {
                Ok(bytes) => read_interval_log(&bytes)
                    .expect("a readable log")
                    .iter()
                    .map(|iv| {
                        (
                            iv.start.as_secs_f64(),
                            iv.length.as_secs_f64(),
                            iv.histogram.len(),
                        )
                    })
                    .collect(),
                Err(_) => Vec::new(),
            }
        }

        /// The files in the directory.
        fn names(&self) -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(&self.dir)
                .expect("the directory")
                .map(|e| {
                    e.expect("an entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            v.sort();
            v
        }

        /// Finish `s` for a run with `intervals`, and check FILE is byte for byte what
        /// the end-of-run writer writes for it.
        fn finish_and_compare(
            &self,
            s: LogStream,
            intervals: Vec<Interval>,
            targets: Option<&StageTargets>,
        ) {
            let mut r = fixtures::open();
            r.target = "http://127.0.0.1:7878/".to_string();
            r.intervals = intervals;
            if let Some(t) = targets {
                r.load.stages = Some(t.profile.clone());
                r.load.warmup = t.warmup;
                r.load.stages_closed = t.closed;
            }
            s.finish(&r, START).expect("finish");
            let mut want = Vec::new();
            write_interval_log(&r, &mut want, START).expect("write to Vec");
            let got = std::fs::read(&self.dest).expect("FILE");
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "the streamed log against the end-of-run writer's"
            );
            assert_eq!(self.names(), ["run.hlog"], "no temporary left");
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn test_each_second_is_in_file_once_complete_and_the_end_matches_the_writer() {
        let c = Case::new("seconds");
        let mut s = c.stream(2, None);
        let ts = ticks(&[
            (0, 0, &[100, 200]),
            (1, 0, &[300]),
            (1, 1, &[150]),
            (0, 1, &[250, 260]),
            (0, 2, &[400]),
            (1, 2, &[500]),
            // The run ended on a whole second: what was censored then joins second 2,
            // after it was written.
            (1, 2, &[900_000]),
        ]);
        assert!(
            c.read_now().is_empty(),
            "nothing until second 0 is complete"
        );
        assert_eq!(c.names().len(), 1, "only the temporary: {:?}", c.names());
        s.tick(&ts[0]);
        assert!(c.read_now().is_empty(), "one worker of two");
        s.tick(&ts[1]);
        assert_eq!(c.read_now(), [(0.0, 1.0, 3)], "FILE holds second 0");
        assert_eq!(c.names(), ["run.hlog"], "renamed into place");
        s.tick(&ts[2]);
        s.tick(&ts[3]);
        assert_eq!(c.read_now().len(), 2);
        for t in &ts[4..] {
            s.tick(t);
        }
        assert_eq!(
            c.read_now()[2],
            (2.0, 1.0, 2),
            "as streamed: before the censoring"
        );
        c.finish_and_compare(s, intervals(&ts, 2, None, 3), None);
    }

    #[test]
    fn test_a_short_last_interval_and_a_dropped_one_are_written_again() {
        // Interrupted 2.4 s in: every worker's partial report of second 2 completes it
        // (streamed as a whole second), and the engine gives it its length.
        let c = Case::new("short");
        let mut s = c.stream(2, None);
        let ts = ticks(&[
            (0, 0, &[100]),
            (1, 0, &[100]),
            (0, 1, &[200]),
            (1, 1, &[200]),
            (0, 2, &[300]),
            (1, 2, &[300]),
        ]);
        ts.iter().for_each(|t| s.tick(t));
        assert_eq!(c.read_now().len(), 3);
        c.finish_and_compare(
            s,
            intervals(&ts, 2, Some(Duration::from_millis(400)), 3),
            None,
        );

        // An interval the engine dropped (it began where the measurement ended).
        let c = Case::new("dropped");
        let mut s = c.stream(2, None);
        ts.iter().for_each(|t| s.tick(t));
        c.finish_and_compare(s, intervals(&ts, 2, None, 2), None);
    }

    #[test]
    fn test_seconds_never_complete_are_written_at_the_end() {
        // Worker 1 stopped after second 0 (`-n`: its share was done); worker 0 went on.
        let c = Case::new("open");
        let mut s = c.stream(2, None);
        let ts = ticks(&[
            (0, 0, &[100]),
            (1, 0, &[120]),
            (0, 1, &[200]),
            (0, 2, &[300]),
        ]);
        ts.iter().for_each(|t| s.tick(t));
        assert_eq!(c.read_now().len(), 1);
        c.finish_and_compare(
            s,
            intervals(&ts, 2, Some(Duration::from_millis(700)), 3),
            None,
        );
    }

    #[test]
    fn test_the_last_planned_second_is_left_to_the_end() {
        // A 3 s run: seconds 0 and 1 stream; 2 is the last (the end censors into it),
        // and the engine may report a 4th, empty, after the end, which it drops.
        let c = Case::new("last");
        let mut s = c.stream_of(1, None, Duration::from_secs(3));
        let ts = ticks(&[(0, 0, &[100]), (0, 1, &[200]), (0, 2, &[300]), (0, 3, &[])]);
        ts.iter().for_each(|t| s.tick(t));
        assert_eq!(c.read_now(), [(0.0, 1.0, 1), (1.0, 1.0, 1)]);
        c.finish_and_compare(s, intervals(&ts, 1, None, 3), None);
        // Planned under a second: all of it at the end.
        let c = Case::new("short-plan");
        let mut s = c.stream_of(1, None, Duration::from_millis(300));
        s.tick(&ts[0]);
        assert!(c.read_now().is_empty());
        let r = intervals(&ts[..1], 1, Some(Duration::from_millis(300)), 1);
        c.finish_and_compare(s, r, None);
    }

    #[test]
    fn test_a_failed_write_stops_the_stream_and_the_end_says_so() {
        let c = Case::new("fails");
        let mut s = c.stream(1, None);
        // A descriptor that cannot write: every write fails, as on a full disk.
        s.file = File::open(s.staged.path()).expect("the temporary reads");
        let ts = ticks(&[(0, 0, &[100]), (0, 1, &[200])]);
        ts.iter().for_each(|t| s.tick(t));
        assert!(s.stopped && s.offsets.is_empty() && s.ready.is_empty());
        assert!(c.read_now().is_empty(), "nothing put in place");
        let mut r = fixtures::open();
        r.intervals = intervals(&ts, 1, None, 2);
        let e = s
            .finish(&r, START)
            .expect_err("the end cannot write either");
        let msg = e.to_string();
        assert!(
            msg.starts_with("--log ") && msg.contains("run.hlog"),
            "{msg}"
        );
        assert!(
            c.names().is_empty(),
            "the temporary removed: {:?}",
            c.names()
        );
        let _ = std::fs::remove_dir_all(&c.dir);
    }

    #[test]
    fn test_a_write_failing_after_the_file_is_in_place_does_not_wipe_it() {
        let c = Case::new("fails-late");
        let mut s = c.stream(1, None);
        let ts = ticks(&[(0, 0, &[100]), (0, 1, &[200])]);
        s.tick(&ts[0]);
        assert_eq!(c.read_now().len(), 1, "second 0 in place");
        // Then every write fails, as on a disk that filled up.
        s.file = File::open(&c.dest).expect("FILE reads");
        s.tick(&ts[1]);
        assert!(s.stopped);
        assert_eq!(c.read_now().len(), 1, "second 0 still there");
        // The end writes the whole log beside it and renames it over (it used to cut
        // FILE to 0 through the failing descriptor first).
        c.finish_and_compare(s, intervals(&ts, 1, None, 2), None);
    }

    #[test]
    fn test_no_start_time_means_the_end_writes_it_all() {
        // Interrupted in the warm-up: second 0 comes without a start; nothing is put in
        // place before the end, which writes the log with its own start time.
        let c = Case::new("nostart");
        let mut s = c.stream(1, None);
        let t = tick(0, 0, &[], None);
        s.tick(&t);
        assert!(c.read_now().is_empty());
        assert_eq!(c.names().len(), 1, "{:?}", c.names());
        c.finish_and_compare(s, intervals(&[t], 1, Some(Duration::ZERO), 1), None);
    }

    #[test]
    fn test_stages_targets_are_streamed_as_comments() {
        let c = Case::new("stages");
        let targets = StageTargets {
            profile: Arc::new(crate::schedule::Profile::new(&[
                (Duration::from_secs(2), 2000.0),
                (Duration::from_secs(2), 2000.0),
            ])),
            warmup: Duration::from_millis(500),
            closed: false,
        };
        let mut s = c.stream(1, Some(targets.clone()));
        let ts = ticks(&[(0, 0, &[100]), (0, 1, &[100]), (0, 2, &[100])]);
        ts.iter().for_each(|t| s.tick(t));
        let text = std::fs::read_to_string(&c.dest).expect("FILE");
        let comments: Vec<&str> = text.lines().filter(|l| l.starts_with("#[target")).collect();
        // 0.5..1.5 s into the run: up the ramp, 500 to 1500 req/s, 1000 on average;
        // 1.5..2.5 s: 1500 to 2000 for half a second (875 requests), then 2000 (1000):
        // 1875, where the target at the interval's midpoint is 2000; then 2000.
        assert_eq!(
            comments,
            [
                "#[target 1000 req/s at 0.000 s]",
                "#[target 1875 req/s at 1.000 s]",
                "#[target 2000 req/s at 2.000 s]"
            ]
        );
        c.finish_and_compare(s, intervals(&ts, 1, None, 3), Some(&targets));
    }
}
