import EventLog
import LMDBKit

extension EventLogError {
    static func storage(_ error: LMDBError, hint: String? = nil) -> EventLogError {
        EventLogError(.storage, "storage error, nothing of the batch was written: \(error)" + (hint.map { "; \($0)" } ?? ""))
    }
}
