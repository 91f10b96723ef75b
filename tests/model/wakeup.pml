/* SPDX-License-Identifier: MIT */
/*
 * The V4V doorbell protocol (docs/architecture.md, "Readiness"), as a
 * Promela model: one producer (the sender) inserting into the consumer's
 * ring, one consumer (the receiver), and the two doorbells.
 *
 * Readable (src/ring/ring.c v4v_ring_commit / arm_at_rx, src/lib/bell.c
 *   bell_rx_rearm / bell_rx_leave):
 *   producer: store tx_ptr; FENCE; load rx_flags; if ARMED at the
 *             position where its message starts: clear ARMED by CAS,
 *             and if that succeeded, write a token
 *   consumer, rearm: ring empty -> drain tokens (not armed: owed ones;
 *             armed: only at the end); ARMED at its position
 *             (CAS); FENCE; load tx_ptr; if data raced in: withdraw
 *             ARMED and write a token itself (unless a producer took
 *             ARMED first: it rings), else sleep until a token arrives
 *   consumer, leave (bell_rx_leave: back to the application, which
 *             polls without draining):
 *             ring empty: if not ARMED, rearm as above; if ARMED at an
 *             older position (it took messages by polling), move the arm
 *             to its position (CAS, only while ARMED), FENCE, load tx_ptr
 *             and handle data that raced in as rearm does; then sleep.
 *             data left: if ARMED, withdraw it and write a token; sleep.
 * Polling waits (src/lib/sock.c v4v_poll_rings, src/preload/wait.c
 *   pl_polled_wait): the consumer looks at the ring once; if nothing is
 *   there it sets RX_SPINNING (a locked RMW), looks until data comes or
 *   its budget ends, clears the flag (a locked RMW) and looks again.  A producer rings only an armed ring
 *   that is not spinning.  Data found is reported to the application
 *   from the ring alone, no token: the ring stays ARMED at an older
 *   position with data the kernel was not told of (the application may
 *   read it, or not, and wait again).  Before it sleeps in the kernel
 *   (no data found, or polling given up on a crowded machine) the wait
 *   makes any such data readable (v4v_show_rings: withdraw ARMED, write
 *   a token).
 * End of file (stream.c peer_flag, empty_reason; bell.c rx_ended): after
 * its last message the producer sets TX_FIN (a locked RMW) and writes a
 * token unconditionally; the consumer at an empty ring reads FIN (end of
 * file if set and the ring still empty), else rearms as above, and after
 * arming looks at FIN again: a token for a FIN set meanwhile may have
 * been drained by the rearm, so it keeps the descriptor readable itself.
 * Writable (v4v_ring_want_space / v4v_ring_consume, src/lib/stream.c
 * wait_room / consumed):
 *   producer: ring full -> fill its own doorbell (unwritable) unless
 *             already filled and unwritable; fetch_or(TX_WAITING); FENCE;
 *             load rx_ptr; if room appeared: retry, else sleep until
 *             writable
 *   consumer: store rx_ptr; FENCE; load TX_WAITING; if set:
 *             fetch_and(~TX_WAITING) and drain the producer's doorbell
 *
 * Memory model.  Sequential consistency would hide the very bug the
 * fences prevent (the store-buffer pattern), so this is x86-TSO with
 * explicit store buffers: the two plain stores of the protocol (tx_ptr by
 * the producer, rx_ptr by the consumer; store-release in C) go into the
 * storing process's buffer and reach memory later, in order, whenever
 * the `flush` process gets to it; the storing process reads its own
 * value (forwarding), everybody else reads memory.  A FENCE waits until
 * its process's buffer is empty; the locked read-modify-writes
 * (fetch_or/fetch_and on the flags) empty the buffer first and then act
 * on memory atomically.  Since tx and rx only grow, a buffer is a
 * counter lagging behind the private value.  This is how the C code runs
 * on x86; on weaker machines the C11 seq_cst fences give the same
 * guarantee for this pattern (store; fence; load against store; fence;
 * load), which is all the model relies on.
 *
 * Abstractions: messages are one slot each, the ring holds N; the
 * producer sends M messages and stops; the producer waits for one free
 * slot (the library's min_chunk).  Doorbell tokens saturate at MAXTOK (a
 * full doorbell drops them, as MSG_DONTWAIT does: one is enough).
 * After a wakeup the producer may forget its `filled` state (a blocking
 * send) or keep it (a non-blocking one polled by the application).
 *
 * Properties:
 *  - no_lost_rx: whenever the consumer sleeps while the ring holds a
 *    message or FIN is set, a token is in its doorbell or the producer is
 *    still on its way to ring (between publishing tx and its ARMED
 *    check, or between setting FIN and its token).
 *  - no_lost_tx: whenever the producer sleeps while the ring has room, its
 *    doorbell is drained (writable) or the consumer is still on its way
 *    (between freeing the slot and its TX_WAITING check).
 *  - no_stale: the consumer never sleeps with a token in its doorbell
 *    while it has taken every message sent and FIN is not set (it would
 *    wake to nothing: EAGAIN after poll said readable, which wrk counts
 *    as an error).  It relies on drain_owed's wait for an owed token.
 *  - no deadlock: every run ends, the consumer at end of file with all M
 *    messages consumed (invalid end states and the final assertion; pan
 *    without a claim).
 *
 * Deliberately broken variants (spin -D...), each must be caught:
 *  - NO_FENCE:         the producer's fence after publishing tx removed
 *  - NO_RECHECK:       the consumer sleeps right after arming, without
 *                      looking at tx again
 *  - NO_CONS_FENCE:    the consumer's fence after publishing rx removed
 *  - NO_SPACE_RECHECK: the producer sleeps right after TX_WAITING without
 *                      looking at rx again
 *  - NO_FIN_RECHECK:   the consumer does not look at FIN after arming
 *                      (the end-of-file wakeup lost before the fix in
 *                      bell.c rx_ended)
 *  - NO_ARM_MOVE:      leave sleeps on an arm at an older position
 *                      without moving it: the producer of the message it
 *                      took rings late, for nothing, and after a polling
 *                      wait the next message does not ring at all
 *  - NO_REARM_CHECK:   rearm arms after its drain even if a producer
 *                      took ARMED meanwhile: that producer's token comes
 *                      after the drain, for nothing
 *  - NO_SHOW:          a polling wait sleeps in the kernel without
 *                      making the data it reported earlier readable
 *
 * Checks (tests/model/check_model.sh): variant name, spin defines
 * (comma-separated, "-" for none), then the verdicts expected without a
 * claim (deadlock/assert) and for each ltl claim in the order of this
 * file: no_stale, no_lost_rx, no_lost_tx.
 *
 * check: correct          -                 ok ok ok ok
 * check: correct-N1       -DN=1,-DM=4       ok ok ok ok
 * check: correct-N3       -DN=3,-DM=8       ok ok ok ok
 * check: NO_FENCE         -DNO_FENCE        error ok error ok
 * check: NO_RECHECK       -DNO_RECHECK      error ok error ok
 * check: NO_CONS_FENCE    -DNO_CONS_FENCE   error ok ok error
 * check: NO_SPACE_RECHECK -DNO_SPACE_RECHECK error ok ok error
 * check: NO_FIN_RECHECK   -DNO_FIN_RECHECK  error ok error ok
 * check: NO_ARM_MOVE      -DNO_ARM_MOVE     error error error ok
 * check: NO_REARM_CHECK   -DNO_REARM_CHECK  ok error ok ok
 * check: NO_SHOW          -DNO_SHOW         error ok error ok
 */

#ifndef N
#define N 2
#endif
#ifndef M
#define M 5
#endif
#define MAXTOK 2

/* Shared memory, as memory holds it. */
byte mem_tx;		/* tx_ptr */
byte mem_rx;		/* rx_ptr */
bool armed = 1;		/* rx_flags & RX_ARMED: a new ring is armed */
byte apos;		/* rx_flags >> 4: the position armed at */
bool txw;		/* tx_flags & TX_WAITING */
bool fin;		/* tx_flags & TX_FIN */
bool spinning;		/* rx_flags & RX_SPINNING */
/* The kernel's doorbells. */
byte tokens;		/* tokens queued to the consumer's descriptor */
bool unwritable;	/* the producer's descriptor is filled */
/* Private positions: the value each process last stored. */
byte p_tx;
byte c_rx;
/* Ghost state for the properties. */
bool c_asleep, p_asleep;
bool p_owe;		/* published tx (or FIN), not rung yet */
bool tok_owed;		/* took ARMED, token not written yet */
bool c_owe;		/* freed a slot, TX_WAITING check not finished */

#define TOKEN	tokens = (tokens < MAXTOK -> tokens + 1 : tokens)

/* The store buffers drain in their own time. */
active proctype flush()
{
end:	do
	:: atomic { mem_tx < p_tx -> mem_tx++ }
	:: atomic { mem_rx < c_rx -> mem_rx++ }
	od
}

active proctype producer()
{
	byte sent = 0;
	bool filled = 0;	/* the library's s->filled */
	bool kick;
	byte start;

	do
	:: sent == M ->
		/* shutdown(SHUT_WR): the flag, then a token regardless */
		atomic { mem_tx == p_tx -> fin = 1; p_owe = 1 };
		TOKEN;
		p_owe = 0;
		break
	:: else ->
		if
		:: p_tx - mem_rx < N ->
			/* v4v_ring_insert: publish tx (buffered) ... */
			atomic { start = p_tx; p_tx++; p_owe = 1 };
#ifndef NO_FENCE
			mem_tx == p_tx;		/* full fence */
#endif
			/* ... then look at ARMED; only the side that clears
			 * it rings, and the producer only for a message at
			 * the armed position. */
			if
			:: armed && apos == start && !spinning ->
				atomic { mem_tx == p_tx ->
					 kick = armed && apos == start &&
						!spinning;
					 if
					 :: kick -> armed = 0; tok_owed = 1
					 :: else -> skip
					 fi };
				if
				:: kick -> atomic { TOKEN; tok_owed = 0 }
				:: else -> skip
				fi
			:: else -> skip
			fi;
			p_owe = 0;
			sent++;
			/* room_again: a send went through, writable again */
			if
			:: filled -> unwritable = 0; filled = 0
			:: else -> skip
			fi
		:: else ->
			/* wait_room: make the descriptor unwritable ... */
			if
			:: !filled || !unwritable ->
				unwritable = 1; filled = 1
			:: else -> skip
			fi;
			/* ... v4v_ring_want_space: announce, fence, look */
			atomic { mem_tx == p_tx -> txw = 1 };
			mem_tx == p_tx;		/* full fence */
#ifndef NO_SPACE_RECHECK
			if
			:: p_tx - mem_rx < N -> skip	/* retry */
			:: else ->
#endif
				p_asleep = 1;
				!unwritable;	/* poll(POLLOUT) */
				p_asleep = 0;
				if
				:: filled = 0	/* blocking send: "emptied" */
				:: skip		/* the app polls: re-check */
				fi
#ifndef NO_SPACE_RECHECK
			fi
#endif
		fi
	od
}

/* After arming at c_rx: sleep if the ring is still empty, else stay
 * readable (bell.c armed_or_token). */
inline look_again()
{
	mem_rx == c_rx;		/* full fence */
#ifndef NO_RECHECK
	if
	:: mem_tx != c_rx ->
		/* data raced in: withdraw; whoever cleared ARMED rings */
		atomic { mem_rx == c_rx -> was = armed; armed = 0 };
		if
		:: was -> TOKEN
		:: else -> skip
		fi
#ifndef NO_FIN_RECHECK
	:: mem_tx == c_rx && fin ->
		TOKEN	/* the end raced in: stay readable */
#endif
	:: else ->
#endif
		c_asleep = 1;
		tokens > 0;	/* poll(POLLIN) */
		c_asleep = 0
#ifndef NO_RECHECK
	fi
#endif
}

/* bell_rx_rearm: drain, arm here, fence, look again.  Armed: move the
 * arm here, unless a producer took ARMED meanwhile: then start over.
 * Nothing is drained then but the end's token (drain_stale; a token that
 * came after drain_owed gave up, the other case it drains, cannot happen
 * here, where drain_owed waits for as long as it takes): no_stale is the
 * proof that no other token can be waiting.  Not armed: a producer took
 * ARMED and owes a token; drain_owed waits for it, then arms. */
inline rearm()
{
	do
	:: armed ->
		if
		:: fin -> tokens = 0
		:: else -> skip
		fi;
		atomic { mem_rx == c_rx ->
			 if
			 :: armed -> apos = c_rx; r = 1
#ifdef NO_REARM_CHECK
			 :: else -> armed = 1; apos = c_rx; r = 1
#else
			 :: else -> r = 0
#endif
			 fi };
		if
		:: r -> break
		:: else -> skip
		fi
	:: !armed ->
		!tok_owed;
		tokens = 0;
		atomic { mem_rx == c_rx -> armed = 1; apos = c_rx };
		break
	od;
	look_again()
}

/* v4v_show_rings: data nobody rang for (the ring is still ARMED) is
 * made readable before the kernel sleeps. */
inline make_readable()
{
#ifdef NO_SHOW
	skip
#else
	if
	:: mem_tx != c_rx && armed ->
		atomic { mem_rx == c_rx -> was = armed; armed = 0 };
		if
		:: was -> TOKEN
		:: else -> skip
		fi
	:: else -> skip
	fi
#endif
}

/* pl_polled_wait, at any moment the application waits.  Found data (or
 * the end) is reported from the ring: the application goes on to read,
 * or waits again.  Else, or on a crowded machine (no polling), the
 * kernel sleeps, once the ring's data is readable there. */
inline polled_wait()
{
	if
	:: atomic { mem_rx == c_rx -> spinning = 1 };
		if
		:: mem_tx != c_rx -> skip	/* found */
		:: skip				/* the budget ran out */
		fi;
		atomic { mem_rx == c_rx -> spinning = 0 };
		/* The look after the flag is cleared is also the look
		 * make_readable takes before the kernel sleeps. */
		if
		:: mem_tx != c_rx -> r = 1	/* reported, no token */
		:: else -> r = 0
		fi
	/* The look before the flag is set (v4v_poll_rings under load), or
	 * the one look of a wait that does not poll: data found is
	 * reported the same way, no token. */
	:: mem_tx != c_rx -> r = 1
	:: r = 0				/* crowded: no polling */
	fi;
	if
	:: r == 0 ->
		make_readable();
		c_asleep = 1;
		tokens > 0;
		c_asleep = 0
	:: else -> skip
	fi
}

active proctype consumer()
{
	bool was;
	byte r;

	do
	:: mem_tx == c_rx && fin -> break	/* end of file */
	:: mem_tx != c_rx ->
		/* v4v_ring_consume: publish rx (buffered) ... */
		atomic { c_rx++; c_owe = 1 };
#ifndef NO_CONS_FENCE
		mem_rx == c_rx;		/* full fence */
#endif
		/* ... then look at TX_WAITING (stream.c consumed) */
		if
		:: txw ->
			atomic { mem_rx == c_rx -> was = txw; txw = 0 };
			if
			:: was -> unwritable = 0   /* drain its fill */
			:: else -> skip
			fi
		:: else -> skip
		fi;
		c_owe = 0
	:: mem_tx != c_rx ->
		/* bell_rx_leave with data left, then the application
		 * polls: withdraw ARMED and make our own token. */
		if
		:: armed ->
			atomic { mem_rx == c_rx -> was = armed; armed = 0 };
			if
			:: was -> TOKEN
			:: else -> skip
			fi
		:: else -> skip
		fi;
		c_asleep = 1;
		tokens > 0;
		c_asleep = 0
	:: mem_tx == c_rx && !fin -> rearm()
	:: mem_tx != c_rx ->
		/* the application waits again before it read it all */
		polled_wait()
	:: mem_tx == c_rx && !fin ->
		/* bell_rx_leave at an empty ring, then the application
		 * polls without draining (v4v_ring_arm_move). */
		atomic { mem_rx == c_rx ->
			 if
			 :: !armed -> r = 0
			 :: armed && apos == c_rx -> r = 1
			 :: armed && apos != c_rx ->
#ifdef NO_ARM_MOVE
				r = 1
#else
				apos = c_rx; r = 2
#endif
			 fi };
		if
		:: r == 0 -> rearm()
		:: r == 1 ->
			if
			:: c_asleep = 1;
			   tokens > 0;
			   c_asleep = 0
			:: polled_wait()
			fi
		:: r == 2 -> look_again()
		fi
	od;
	assert(p_tx == M && c_rx == M)
}

/* No stale token: the consumer never sleeps on a token for nothing. */
ltl no_stale { [] !(c_asleep && tokens > 0 && p_tx == c_rx && !fin) }
ltl no_lost_rx { [] ((c_asleep && (p_tx != c_rx || fin)) ->
		      (tokens > 0 || p_owe)) }
ltl no_lost_tx { [] ((p_asleep && p_tx - c_rx < N) -> (!unwritable || c_owe)) }
