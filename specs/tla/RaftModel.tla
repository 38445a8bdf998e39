------------------------------ MODULE RaftModel ------------------------------
(***************************************************************************)
(* The TLA+ twin of the stateright model in model/: the same events as    *)
(* specs/contract.md (Timeout, Heartbeat, ClientRequest, Deliver, Drop,    *)
(* Duplicate, Restart), the same bounds, and the history variables that    *)
(* the model keeps and that change its state count.                        *)
(*                                                                         *)
(* Its purpose is a cross-check: TLC's distinct states on this spec must   *)
(* equal raft-model's unique states for the same bounds (without          *)
(* --symmetry), and the two checkers can be timed on the same state space. *)
(* History flags that stay false in a correct run (a leader rewriting its  *)
(* log, a term going down, a double vote) and the per-server vote record   *)
(* (a function of votedFor when no bug is on) add no states and are left   *)
(* out; the properties that read them are stated directly instead.         *)
(***************************************************************************)
EXTENDS Integers, Sequences, FiniteSets, TLC

CONSTANTS N,              \* servers 0..N-1
          NValues,        \* client values 0..NValues-1
          MaxTerm, MaxLog, MaxMessages,
          MaxRestarts, MaxDrops, MaxDuplicates,
          MaxEntries,     \* entries per AppendEntries
          WithNoop        \* a new leader appends a no-op (Raft paper, section 8)

Server == 0..(N - 1)
Value == 0..(NValues - 1)
Nil == -1               \* votedFor of a server that has not voted
NoopPayload == -1       \* the payload of a no-op entry
Quorum == N \div 2 + 1  \* a majority (section 5.2)
Zeros == [p \in Server |-> 0]

Min2(a, b) == IF a < b THEN a ELSE b
Max2(a, b) == IF a > b THEN a ELSE b

VARIABLES srv,        \* per server: Figure 2's state
          net,        \* messages in flight: a bag, message -> copies (no zero counts)
          faults,     \* restarts, drops and duplicates so far
          elected,    \* history: every <<term, leader>> ever elected
          committed,  \* history: <<index, entry, lowest term it was committed in>>
          truncated,  \* history: a follower removed a conflicting suffix
          restarted,  \* history: servers that restarted at least once
          rejoined    \* history: a restarted server later voted, campaigned or appended

vars == <<srv, net, faults, elected, committed, truncated, restarted, rejoined>>

-----------------------------------------------------------------------------
(* Logs and messages *)

Entry(t, p) == [term |-> t, payload |-> p]
LastTerm(lg) == IF Len(lg) = 0 THEN 0 ELSE lg[Len(lg)].term
\* The term at index k; 0 for the empty prefix, -1 past the end.
TermAt(lg, k) == IF k = 0 THEN 0 ELSE IF k <= Len(lg) THEN lg[k].term ELSE -1

\* Every message has every field, so that equal messages are equal records.
Msg(type, t, src, dst) ==
  [type |-> type, term |-> t, src |-> src, dst |-> dst,
   lastLogIndex |-> 0, lastLogTerm |-> 0, granted |-> FALSE,
   prevLogIndex |-> 0, prevLogTerm |-> 0, entries |-> <<>>, leaderCommit |-> 0,
   success |-> FALSE, index |-> 0]

RequestVote(t, src, dst, lli, llt) ==
  [Msg("RV", t, src, dst) EXCEPT !.lastLogIndex = lli, !.lastLogTerm = llt]
VoteReply(t, src, dst, g) == [Msg("RVR", t, src, dst) EXCEPT !.granted = g]
AppendReply(t, src, dst, ok, k) ==
  [Msg("AER", t, src, dst) EXCEPT !.success = ok, !.index = k]

Send(bag, m) == IF m \in DOMAIN bag THEN [bag EXCEPT ![m] = @ + 1] ELSE bag @@ (m :> 1)
\* Sends a set of distinct messages.
SendSet(bag, ms) ==
  [m \in DOMAIN bag \cup ms |->
     (IF m \in DOMAIN bag THEN bag[m] ELSE 0) + (IF m \in ms THEN 1 ELSE 0)]
Remove(bag, m) ==
  IF bag[m] = 1 THEN [x \in DOMAIN bag \ {m} |-> bag[x]] ELSE [bag EXCEPT ![m] = @ - 1]

RECURSIVE SumOver(_, _)
SumOver(bag, S) == IF S = {} THEN 0
                   ELSE LET m == CHOOSE x \in S : TRUE IN bag[m] + SumOver(bag, S \ {m})
InFlight == SumOver(net, DOMAIN net)

-----------------------------------------------------------------------------
(* Server transitions, as pure operators on one server's record *)

Fresh == [term |-> 0, voted |-> Nil, log |-> << >>, role |-> "F", commit |-> 0,
          votes |-> {}, next |-> Zeros, match |-> Zeros]

Follower(s) == [s EXCEPT !.role = "F", !.votes = {}, !.next = Zeros, !.match = Zeros]

\* Figure 2, All Servers: a higher term makes a server a follower with no vote.
UpdateTerm(s, t) == IF t > s.term THEN [Follower(s) EXCEPT !.term = t, !.voted = Nil] ELSE s

\* Figure 2, Leaders: the largest N > commitIndex of the leader's term stored by a quorum.
AdvanceCommit(s, me) ==
  LET ok == {n \in (s.commit + 1)..Len(s.log) :
               /\ s.log[n].term = s.term
               /\ Cardinality({p \in Server : p = me \/ s.match[p] >= n}) >= Quorum}
  IN IF ok = {} THEN s ELSE [s EXCEPT !.commit = CHOOSE n \in ok : \A k \in ok : k <= n]

BecomeLeader(s, me) ==
  LET l == [s EXCEPT !.role = "L", !.votes = {},
                     !.next = [p \in Server |-> IF p = me THEN 0 ELSE Len(s.log) + 1],
                     !.match = Zeros]
      l2 == IF WithNoop THEN [l EXCEPT !.log = Append(@, Entry(s.term, NoopPayload))] ELSE l
  IN AdvanceCommit(l2, me)

\* The first position j (1-based in entries) whose entry conflicts with the log, or 0.
Conflict(lg, prev, es) ==
  LET js == {j \in 1..Len(es) : prev + j <= Len(lg) /\ lg[prev + j].term # es[j].term}
  IN IF js = {} THEN 0 ELSE CHOOSE j \in js : \A k \in js : j <= k

\* Figure 2, AppendEntries steps 3-4: truncate at a conflict only, append what is missing.
Merge(lg, prev, es) ==
  LET j == Conflict(lg, prev, es) IN
  IF j > 0 THEN SubSeq(lg, 1, prev + j - 1) \o SubSeq(es, j, Len(es))
  ELSE IF prev + Len(es) > Len(lg) THEN lg \o SubSeq(es, Len(lg) - prev + 1, Len(es))
  ELSE lg

\* History: entries newly committed at a server, with the lowest term they were committed in.
RecordOne(c, k, e, t) ==
  LET old == {x \in c : x[1] = k /\ x[2] = e} IN
  IF old = {} THEN c \cup {<<k, e, t>>}
  ELSE LET o == CHOOSE x \in old : TRUE IN (c \ {o}) \cup {<<k, e, Min2(t, o[3])>>}
RECURSIVE RecordRange(_, _, _, _)
RecordRange(c, s, k, to) ==
  IF k > to THEN c ELSE RecordRange(RecordOne(c, k, s.log[k], s.term), s, k + 1, to)
RECURSIVE RecordServers(_, _, _, _)
RecordServers(c, old, new, S) ==
  IF S = {} THEN c
  ELSE LET i == CHOOSE x \in S : TRUE
           c2 == IF new[i].commit > old[i].commit
                 THEN RecordRange(c, new[i], old[i].commit + 1, new[i].commit) ELSE c
       IN RecordServers(c2, old, new, S \ {i})

RecordCommits == committed' = RecordServers(committed, srv, srv', Server)
NewLeaders == elected' = elected \cup {<<srv'[i].term, i>> : i \in {j \in Server :
                           srv'[j].role = "L" /\ srv[j].role # "L"}}

-----------------------------------------------------------------------------
(* Events *)

Timeout(i) ==
  /\ srv[i].role # "L"
  /\ LET s == srv[i]
         c == [Follower(s) EXCEPT !.term = s.term + 1, !.role = "C", !.voted = i, !.votes = {i}]
     IN /\ srv' = [srv EXCEPT ![i] = IF 1 >= Quorum THEN BecomeLeader(c, i) ELSE c]
        /\ net' = SendSet(net, {RequestVote(c.term, i, p, Len(s.log), LastTerm(s.log)) :
                                p \in Server \ {i}})
  /\ rejoined' = (rejoined \/ i \in restarted)
  /\ NewLeaders /\ RecordCommits
  /\ UNCHANGED <<faults, truncated, restarted>>

Heartbeat(i) ==
  /\ srv[i].role = "L"
  /\ LET s == srv[i]
         AE(p) == LET prev == Max2(s.next[p], 1) - 1
                      from == Min2(prev, Len(s.log))
                      to == Min2(from + MaxEntries, Len(s.log))
                  IN [Msg("AE", s.term, i, p) EXCEPT
                        !.prevLogIndex = prev,
                        !.prevLogTerm = IF TermAt(s.log, prev) = -1 THEN 0 ELSE TermAt(s.log, prev),
                        !.entries = SubSeq(s.log, from + 1, to),
                        !.leaderCommit = s.commit]
     IN net' = SendSet(net, {AE(p) : p \in Server \ {i}})
  /\ UNCHANGED <<srv, faults, elected, committed, truncated, restarted, rejoined>>

ClientRequest(i, v) ==
  /\ srv[i].role = "L"
  /\ srv' = [srv EXCEPT ![i] = AdvanceCommit([@ EXCEPT !.log = Append(@, Entry(srv[i].term, v))], i)]
  /\ RecordCommits
  /\ UNCHANGED <<net, faults, elected, truncated, restarted, rejoined>>

Restart(i) ==
  /\ faults.restarts < MaxRestarts
  /\ srv' = [srv EXCEPT ![i] = [Follower(@) EXCEPT !.commit = 0]]
  /\ faults' = [faults EXCEPT !.restarts = @ + 1]
  /\ restarted' = restarted \cup {i}
  /\ UNCHANGED <<net, elected, committed, truncated, rejoined>>

HandleRequestVote(m) ==
  LET s == UpdateTerm(srv[m.dst], m.term)
      g == /\ m.term >= s.term
           /\ s.voted \in {Nil, m.src}
           /\ \/ m.lastLogTerm > LastTerm(s.log)
              \/ m.lastLogTerm = LastTerm(s.log) /\ m.lastLogIndex >= Len(s.log)
      s2 == IF g THEN [s EXCEPT !.voted = m.src] ELSE s
  IN /\ srv' = [srv EXCEPT ![m.dst] = s2]
     /\ net' = Send(Remove(net, m), VoteReply(s2.term, m.dst, m.src, g))
     /\ rejoined' = (rejoined \/ (g /\ m.dst \in restarted))
     /\ UNCHANGED truncated

HandleVoteReply(m) ==
  LET s == UpdateTerm(srv[m.dst], m.term)
      ok == s.role = "C" /\ m.term = s.term /\ m.granted
      s2 == IF ok THEN [s EXCEPT !.votes = @ \cup {m.src}] ELSE s
      s3 == IF ok /\ Cardinality(s2.votes) >= Quorum THEN BecomeLeader(s2, m.dst) ELSE s2
  IN /\ srv' = [srv EXCEPT ![m.dst] = s3]
     /\ net' = Remove(net, m)
     /\ UNCHANGED <<truncated, rejoined>>

HandleAppendEntries(m) ==
  LET s == UpdateTerm(srv[m.dst], m.term)
      f == IF s.role # "F" THEN Follower(s) ELSE s
      lastNew == m.prevLogIndex + Len(m.entries)
      j == Conflict(f.log, m.prevLogIndex, m.entries)
      appended == j > 0 \/ lastNew > Len(f.log)
      a == [f EXCEPT !.log = Merge(f.log, m.prevLogIndex, m.entries),
                     !.commit = IF m.leaderCommit > f.commit
                                THEN Max2(f.commit, Min2(m.leaderCommit, lastNew)) ELSE f.commit]
  IN IF m.term < s.term THEN
       /\ srv' = [srv EXCEPT ![m.dst] = s]
       /\ net' = Send(Remove(net, m), AppendReply(s.term, m.dst, m.src, FALSE, m.prevLogIndex))
       /\ UNCHANGED <<truncated, rejoined>>
     ELSE IF TermAt(f.log, m.prevLogIndex) # m.prevLogTerm THEN
       /\ srv' = [srv EXCEPT ![m.dst] = f]
       /\ net' = Send(Remove(net, m), AppendReply(f.term, m.dst, m.src, FALSE, m.prevLogIndex))
       /\ UNCHANGED <<truncated, rejoined>>
     ELSE
       /\ srv' = [srv EXCEPT ![m.dst] = a]
       /\ net' = Send(Remove(net, m), AppendReply(a.term, m.dst, m.src, TRUE, lastNew))
       /\ truncated' = (truncated \/ j > 0)
       /\ rejoined' = (rejoined \/ (appended /\ m.dst \in restarted))

HandleAppendReply(m) ==
  LET s == UpdateTerm(srv[m.dst], m.term)
      p == m.src
      s2 == IF s.role # "L" \/ m.term # s.term THEN s
            ELSE IF m.success
            THEN AdvanceCommit([s EXCEPT !.match[p] = Max2(@, m.index),
                                         !.next[p] = Max2(@, m.index + 1)], m.dst)
            ELSE [s EXCEPT !.next[p] = Max2(s.match[p] + 1, Min2(@, m.index))]
  IN /\ srv' = [srv EXCEPT ![m.dst] = s2]
     /\ net' = Remove(net, m)
     /\ UNCHANGED <<truncated, rejoined>>

Deliver(m) ==
  /\ \/ m.type = "RV" /\ HandleRequestVote(m)
     \/ m.type = "RVR" /\ HandleVoteReply(m)
     \/ m.type = "AE" /\ HandleAppendEntries(m)
     \/ m.type = "AER" /\ HandleAppendReply(m)
  /\ NewLeaders /\ RecordCommits
  /\ UNCHANGED <<faults, restarted>>

Drop(m) ==
  /\ faults.drops < MaxDrops
  /\ net' = Remove(net, m)
  /\ faults' = [faults EXCEPT !.drops = @ + 1]
  /\ UNCHANGED <<srv, elected, committed, truncated, restarted, rejoined>>

Duplicate(m) ==
  /\ faults.duplicates < MaxDuplicates
  /\ net' = Send(net, m)
  /\ faults' = [faults EXCEPT !.duplicates = @ + 1]
  /\ UNCHANGED <<srv, elected, committed, truncated, restarted, rejoined>>

Init == /\ srv = [i \in Server |-> Fresh]
        /\ net = [m \in {} |-> 0]
        /\ faults = [restarts |-> 0, drops |-> 0, duplicates |-> 0]
        /\ elected = {} /\ committed = {}
        /\ truncated = FALSE /\ restarted = {} /\ rejoined = FALSE

Next == \/ \E i \in Server : Timeout(i) \/ Heartbeat(i) \/ Restart(i)
        \/ \E i \in Server, v \in Value : ClientRequest(i, v)
        \/ \E m \in DOMAIN net : Deliver(m) \/ Drop(m) \/ Duplicate(m)

Spec == Init /\ [][Next]_vars

\* The bounds, as raft-model's within_boundary: a state outside them is not explored.
Bounded == /\ InFlight <= MaxMessages
           /\ \A i \in Server : srv[i].term <= MaxTerm /\ Len(srv[i].log) <= MaxLog

-----------------------------------------------------------------------------
(* The five properties of Figure 3 *)

ElectionSafety == \A e, f \in elected : e[1] = f[1] => e[2] = f[2]

LogMatching == \A i, j \in Server : \A k \in 1..Min2(Len(srv[i].log), Len(srv[j].log)) :
                 srv[i].log[k].term = srv[j].log[k].term =>
                   SubSeq(srv[i].log, 1, k) = SubSeq(srv[j].log, 1, k)

LeaderCompleteness == \A i \in Server : srv[i].role = "L" =>
                        \A c \in committed : c[3] < srv[i].term =>
                          c[1] <= Len(srv[i].log) /\ srv[i].log[c[1]] = c[2]

StateMachineSafety == \A c, d \in committed : c[1] = d[1] => c[2] = d[2]

CommitWithinLog == \A i \in Server : srv[i].commit <= Len(srv[i].log)

\* Leader Append-Only is a property of steps.
LeaderAppendOnly == [][\A i \in Server :
                        (srv[i].role = "L" /\ srv'[i].role = "L" /\ srv[i].term = srv'[i].term)
                          => /\ Len(srv'[i].log) >= Len(srv[i].log)
                             /\ SubSeq(srv'[i].log, 1, Len(srv[i].log)) = srv[i].log]_vars
=============================================================================
