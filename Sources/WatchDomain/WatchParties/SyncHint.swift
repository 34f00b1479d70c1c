public import EventLog

/// What a member's player should do to follow the party's film, from where it reports being
/// (a `player_status`) and where the party's authoritative player is at the same moment.
///
/// Two thresholds, after Syncplay's and Jellyfin SyncPlay's: drift within
/// ``toleranceMillis`` (about two frames) needs nothing; drift up to ``seekThresholdMillis``
/// is closed smoothly by playing slightly faster or slower for a while, so that it converges
/// to within the tolerance instead of staying just under a seek threshold forever; larger
/// drift, or any drift while the film is paused, is a seek. A buffering player is told to
/// wait: its position jumps when it resumes, and it reports again then.
public struct SyncHint: Sendable, Hashable {
    /// The correction.
    public enum Action: String, Sendable, Hashable {
        /// In step: nothing to do.
        case none
        /// Play at ``SyncHint/playbackRate`` for ``SyncHint/durationMillis``, then at 1.
        case adjustRate = "adjust_rate"
        /// Jump to ``SyncHint/videoTimeMillis``.
        case seek
        /// Buffering: no correction until the player plays again.
        case wait
    }

    /// Drift up to this needs no correction, in milliseconds.
    public static let toleranceMillis: Int64 = 80
    /// Drift beyond this is corrected by a seek, in milliseconds.
    public static let seekThresholdMillis: Int64 = 2_000
    /// The rate change closes the drift over about this long, in milliseconds.
    public static let correctionWindowMillis: Int64 = 10_000
    /// The rate never moves further from 1 than this.
    public static let maximumRateChange = 0.1

    /// The correction.
    public var action: Action
    /// The client's position minus the party's, in milliseconds (positive: the client is ahead).
    public var driftMillis: Int64
    /// Where the party's film is at the report's time, in milliseconds.
    public var videoTimeMillis: UInt64
    /// The rate to play at for ``durationMillis``: below 1 when ahead, above 1 when behind; 1
    /// unless ``action`` is ``Action/adjustRate``.
    public var playbackRate: Double
    /// How long to play at ``playbackRate``, in milliseconds; 0 unless adjusting the rate.
    public var durationMillis: Int64

    /// The hint for a player that reports `reportedMillis` (buffering or not) while the
    /// party's film is in `state`, at `time`, for a film of `length` milliseconds.
    public init(reportedMillis: UInt64, buffering: Bool, state: PlayerState, at time: Timestamp, length: UInt64) {
        let authoritative = state.position(at: time, length: length)
        let drift = Int64(clamping: reportedMillis) - Int64(clamping: authoritative)
        videoTimeMillis = authoritative
        driftMillis = drift
        playbackRate = 1
        durationMillis = 0
        if buffering {
            action = .wait
        } else if drift.magnitude <= Self.toleranceMillis.magnitude {
            action = .none
        } else if !state.playing || drift.magnitude > Self.seekThresholdMillis.magnitude {
            action = .seek
        } else {
            action = .adjustRate
            let change = min(Double(drift.magnitude) / Double(Self.correctionWindowMillis), Self.maximumRateChange)
            playbackRate = drift > 0 ? 1 - change : 1 + change
            // At rate r the gap closes by |1 − r| milliseconds each millisecond.
            durationMillis = Int64((Double(drift.magnitude) / change).rounded())
        }
    }
}
