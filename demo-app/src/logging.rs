//! Log set-up for the binary: `RUST_LOG` filtering (default `info`) written to stdout off the
//! request path.
//!
//! Every request produces one access-log line, so logging must not block a worker or cost a
//! syscall or a cross-thread wake-up per line. Each thread appends formatted lines to its own
//! buffer (an uncontended lock and a copy); one writer thread swaps the buffers out and writes
//! them in large batches every few milliseconds. Lines from one thread stay in order; lines from
//! different threads can interleave by up to one flush period (the timestamps tell the order).
//! A thread whose buffer is full (stdout not keeping up) drops lines rather than slowing requests.
//! Lines are formatted by [`LineFormat`], which writes tracing-subscriber's default layout
//! (`2026-01-02T03:04:05.678901Z  INFO target: message key=value`) at a fraction of its cost.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How often buffered lines reach stdout.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Buffered bytes per thread before new lines are dropped.
const MAX_BUFFERED: usize = 4 * 1024 * 1024;

type Buffer = Arc<Mutex<Vec<u8>>>;

#[derive(Debug, Default)]
struct Shared {
    /// Every thread's buffer, registered on its first line.
    buffers: Mutex<Vec<Buffer>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        // A panic while holding a log buffer leaves plain bytes behind: still usable.
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write out everything buffered so far.
    fn flush_to(&self, out: &mut impl Write, spare: &mut Vec<u8>) -> io::Result<()> {
        let buffers: Vec<Buffer> = Self::lock(&self.buffers).clone();
        for buffer in buffers {
            {
                let mut b = Self::lock(&buffer);
                if b.is_empty() {
                    continue;
                }
                // Swap instead of copy: the thread keeps appending to a recycled allocation.
                spare.clear();
                std::mem::swap(&mut *b, spare);
            }
            out.write_all(spare)?;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            writeln!(
                out,
                "demo-app: dropped {dropped} log lines: stdout is not keeping up"
            )?;
        }
        Ok(())
    }
}

thread_local! {
    static LOCAL: RefCell<Option<(usize, Buffer)>> = const { RefCell::new(None) };
}

/// The `MakeWriter` handed to the fmt layer: appends to the calling thread's buffer.
#[derive(Debug, Clone)]
struct BatchWriter {
    shared: Arc<Shared>,
}

impl BatchWriter {
    fn append(&self, bytes: &[u8]) {
        let id = Arc::as_ptr(&self.shared) as usize;
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if !matches!(&*local, Some((owner, _)) if *owner == id) {
                let buffer = Buffer::default();
                Shared::lock(&self.shared.buffers).push(buffer.clone());
                *local = Some((id, buffer));
            }
            let Some((_, buffer)) = local.as_ref() else {
                return;
            };
            let mut b = Shared::lock(buffer);
            if b.len() + bytes.len() > MAX_BUFFERED {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                b.extend_from_slice(bytes);
            }
        });
    }
}

impl Write for BatchWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps the writer thread alive; dropping it writes out what is buffered and stops it.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(writer) = self.writer.take() {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}

/// Error installing the global subscriber.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot duplicate stdout for the log writer")]
    Stdout(#[source] io::Error),
    #[error("cannot start the log writer thread")]
    Thread(#[source] io::Error),
    #[error("a global tracing subscriber is already installed")]
    AlreadySet,
}

/// Install the global subscriber. Call once, early in `main`, and keep the guard until exit.
pub fn init_logging() -> Result<LogGuard, LoggingError> {
    // A duplicate of fd 1 as a plain File: std's Stdout would flush on every newline.
    let mut stdout = File::from(
        io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(LoggingError::Stdout)?,
    );
    let shared = Arc::new(Shared::default());
    let writer_shared = shared.clone();
    let writer = std::thread::Builder::new()
        .name("demo-app-log".to_owned())
        .spawn(move || {
            let mut spare = Vec::new();
            loop {
                let stopping = writer_shared.stop.load(Ordering::Relaxed);
                // Nowhere to report a failed write to stdout: keep serving, try again next time.
                let _ = writer_shared.flush_to(&mut stdout, &mut spare);
                if stopping {
                    break;
                }
                std::thread::park_timeout(FLUSH_EVERY);
            }
        })
        .map_err(LoggingError::Thread)?;
    let guard = LogGuard {
        shared: shared.clone(),
        writer: Some(writer),
    };
    let (filter, bad_filter) = filter_from_env();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(BatchWriter { shared })
                .with_ansi(false)
                .event_format(LineFormat),
        )
        .with(filter)
        .try_init()
        .map_err(|_| LoggingError::AlreadySet)?;
    if let Some(value) = bad_filter {
        tracing::warn!(
            "ignoring RUST_LOG={value:?}: expected directives like `info` or `warn,access=off`"
        );
    }
    Ok(guard)
}

/// `RUST_LOG` as `target=level` directives (default `info`). `Targets` covers what an operator
/// sets for this service (`warn`, `info,access=off`, `demo_app=debug`) without the regex engine
/// that full `EnvFilter` syntax would link in. Returns the rejected value when it does not parse.
fn filter_from_env() -> (Targets, Option<String>) {
    let default = Targets::new().with_default(LevelFilter::INFO);
    match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => match value.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(_) => (default, Some(value)),
        },
        _ => (default, None),
    }
}

/// One line per event: UTC timestamp with microseconds, level, target, message and fields,
/// laid out like tracing-subscriber's default `Full` format (without span context, which this
/// service does not use). The generic formatter spends most of an access-log line's cost on
/// `fmt` machinery and styling; this one reuses the formatted date within a second and writes
/// integers and plain strings directly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineFormat;

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records forwarded from the `log` crate (actix's own messages) carry their real target
        // and level in fields; show those like the default formatter does.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        writer.write_str(meta.target())?;
        writer.write_char(':')?;
        let mut fields = FieldWriter {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// `2026-01-02T03:04:05.678901Z`; the part up to the seconds is formatted once per second and
/// thread.
fn write_timestamp(writer: &mut Writer<'_>, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            cached.1.clear();
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let rem = secs % 86_400;
            let _ = write!(
                cached.1,
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            );
            cached.0 = secs;
        }
        writer.write_str(&cached.1)
    })?;
    let micros = since_epoch.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut n = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    writer.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)?;
    writer.write_char('Z')
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Writes ` message` and ` name=value` for each field, as the default formatter does: strings
/// quoted, `%` values with Display, everything else with Debug.
struct FieldWriter<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn name(&mut self, field: &Field) -> fmt::Result {
        self.writer.write_char(' ')?;
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }

    fn integer(&mut self, field: &Field, negative: bool, mut n: u64) -> fmt::Result {
        self.name(field)?;
        if negative {
            self.writer.write_char('-')?;
        }
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.writer
            .write_str(std::str::from_utf8(&buf[i..]).map_err(|_| fmt::Error)?)
    }
}

/// Fields that `tracing-log` adds to forwarded `log` records (shown through the metadata).
fn is_log_field(field: &Field) -> bool {
    field.name().starts_with("log.")
}

impl Visit for FieldWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() || is_log_field(field) {
            return;
        }
        self.result = if field.name() == "message" {
            self.writer
                .write_char(' ')
                .and_then(|()| self.writer.write_str(value))
        } else {
            self.name(field).and_then(|()| {
                if value
                    .bytes()
                    .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
                {
                    self.writer.write_char('"')?;
                    self.writer.write_str(value)?;
                    self.writer.write_char('"')
                } else {
                    write!(self.writer, "{value:?}")
                }
            })
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_ok() {
            self.result = self.integer(field, false, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.result.is_ok() {
            self.result = self.integer(field, value < 0, value.unsigned_abs());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || is_log_field(field) {
            return;
        }
        self.result = if field.name() == "message" {
            write!(self.writer, " {value:?}")
        } else {
            self.name(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_514), (2026, 3, 2));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    /// Format `event!`-style input with LineFormat into a string.
    fn check(expected_suffix: &str, emit: impl FnOnce()) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || SinkWriter(sink.clone()))
            .with_ansi(false)
            .event_format(LineFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let (stamp, rest) = text.split_at(27);
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[19] == b'.',
            "{text:?}"
        );
        assert_eq!(rest, expected_suffix);
    }

    struct SinkWriter(Arc<Mutex<Vec<u8>>>);

    impl Write for SinkWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_match_the_default_layout() {
        check(
            "  INFO access: method=GET path=\"/x\" status=200 micros=41\n",
            || {
                tracing::info!(target: "access", method = %"GET", path = "/x", status = 200_u64, micros = 41_u64);
            },
        );
        check(
            "  WARN demo_app::downstream: downstream target not allowed target=blue:80 delta=-3\n",
            || {
                tracing::warn!(target: "demo_app::downstream", target = %"blue:80", delta = -3_i64, "downstream target not allowed");
            },
        );
        check(" ERROR x: quoted path=\"a\\\"b\" flag=true\n", || {
            tracing::error!(target: "x", path = "a\"b", flag = true, "quoted");
        });
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let mut out = String::new();
        let at = UNIX_EPOCH + Duration::from_micros(1_767_323_045_000_042);
        write_timestamp(&mut Writer::new(&mut out), at).unwrap();
        assert_eq!(out, "2026-01-02T03:04:05.000042Z");
    }
}
