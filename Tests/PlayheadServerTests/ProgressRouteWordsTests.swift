import Testing
import WatchDomain

@testable import PlayheadServer

/// The words of the progress routes are refused as user ids by the server, which owns them
/// (moved from the access policy's tests when the rule left the domain).
@Suite("Progress route words")
struct ProgressRouteWordsTests {
    @Test("every word after /progress/ that names a route is refused as a user id, naming userId")
    func routeWordsAreNoUserIds() {
        for word in ["update", "sync", "realtime", "summary", "engagement", "stream"] {
            do {
                _ = try ProgressRoutes.progressUser(word)
                Issue.record("\(word) was taken for a user id")
            } catch let error as CommandError {
                #expect(error.code == .invalid && error.field == "userId", "\(word): \(error)")
                #expect(error.message == "userId '\(word)' is a word of the progress routes, not a user id")
            } catch {
                Issue.record("\(word): \(error)")
            }
        }
    }

    @Test("other ids, words of other routes and near misses included, are user ids")
    func otherIdsPass() throws {
        for text in ["alice", "Summary", "summary2", "videos", "interactions"] {
            #expect(try ProgressRoutes.progressUser(text).text == text)
        }
        #expect(throws: CommandError.self) { try ProgressRoutes.progressUser("") }
    }
}
