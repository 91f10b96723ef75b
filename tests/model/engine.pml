/* SPDX-License-Identifier: MIT */
/*
 * The strict-mode copy engine's sleep/wake handshake (src/hv/engine.c;
 * docs/architecture.md, "Strict"), as a Promela model: two senders, each
 * writing into its own transmit queue and ringing through its own
 * doorbell, and the engine that consumes both queues: one shard of it
 * (src/hv/shards.c), which runs the handshake alone over its own queues,
 * in a copy thread or in v4vd's loop.
 *
 * The doorbell is the sender's socket: what the sender writes into its
 * end arrives at v4vd's end, which sits in the engine's epoll set.  It
 * carries two things that v4vd cannot tell apart: the token of an insert
 * into an armed queue, and the fill of a sender waiting for room.
 * Draining v4vd's end (hv_bell_drain) removes both: v4vd's end is no
 * longer readable, and the sender's end is writable again.
 *
 * Sender (src/lib/stream.c stream_sendmsg, put_chunk, wait_room,
 * room_again, peer_flag; src/ring/ring.c v4v_ring_commit,
 * v4v_ring_want_space):
 *   insert:     store tx_ptr; FENCE; load rx_flags; if ARMED at the
 *               position where its message starts: clear ARMED by CAS,
 *               and if that succeeded, write a token
 *   full queue: fill its end until unwritable (unless already filled and
 *               still unwritable); fetch_or(TX_WAITING); FENCE; load
 *               rx_ptr; if its chunk fits now: retry, else sleep until
 *               its end is writable (a blocking send then forgets that it
 *               filled; an application that polls for it does not)
 *   end of a send call that filled: drain v4vd's end itself (its fill,
 *               and a token it may have written since), then write a
 *               token again for an engine that may sleep on that queue
 *   shutdown(SHUT_WR) (not with -DNO_FIN): fetch_or(TX_FIN), then a token
 *               whether ARMED or not
 * Engine (hv_shard_turn, pass, copy_turn, sender_room, arm_all,
 * end_of_queue; v4v_ring_consume, v4v_ring_arm):
 *   pass:       each queue in turn: load TX_FIN, then tx_ptr; empty and
 *               FIN: the queue has ended; else consume (store rx_ptr;
 *               FENCE; load TX_WAITING; if set: fetch_and(~TX_WAITING)
 *               and, if the waiting sender's chunk fits now, drain its
 *               doorbell, else fetch_or(TX_WAITING) again so that the
 *               next consume looks again)
 *   no work:    the idle window goes on (pass again) or is over (arm_all)
 *   arm_all:    for each queue not ended: data pending -> stay awake;
 *               else drain its doorbell, ARMED at its position (CAS),
 *               FENCE, load tx_ptr: data raced in -> fetch_and(~ARMED)
 *               and stay awake.  All armed: sleep until the doorbell of a
 *               queue not ended is readable (a token or a fill), then
 *               pass again.  While awake the engine leaves doorbells
 *               alone, but for sender_room's drain.
 *
 * Memory model: x86-TSO with explicit store buffers, as in wakeup.pml.
 * The plain stores of the protocol (tx_ptr by a sender, rx_ptr by the
 * engine; store-release in C) go into the storing thread's buffer and
 * reach memory later, in order, whenever `flush` gets to them; the
 * storing thread reads its own value, everybody else reads memory.  A
 * FENCE waits until the buffer is empty; the locked read-modify-writes
 * (the CAS and fetch_or/fetch_and on the flags) empty it first and then
 * act on memory atomically.  A buffer is a counter lagging behind the
 * private value.  The engine's buffer is one counter per queue, which
 * lets rx_ptr stores to two queues overtake each other, more than TSO
 * allows: sound for the properties, and moot while every consume
 * fences.  A load and the CAS or fetch_and that acts on what it read are
 * one step: the locked instruction fails, or acts the same, if the word
 * changed in between.
 *
 * Abstractions: messages are one slot each and a queue holds N.  A
 * sender finds its queue full only when not one slot is free (put_chunk
 * places a message smaller than min_chunk wherever it fits), and then
 * waits until CHUNK slots are (wait_room asks for min_chunk; with
 * CHUNK > 1 a consume can leave the waiting sender's chunk still too
 * big, the path where sender_room sets TX_WAITING again).  Positions are
 * counters; the ARMED position is kept modulo N + 1, the ring's own
 * wrap.  Sender 0 sends M messages and sender 1 M1: fewer by default,
 * since a third message for both makes four times the states, too slow
 * for every build (-DM1=3 passes too); so only sender 0 ever waits for
 * room.  A send call ends (room_again) after any insert, or goes on with
 * the next.  The peer's receive ring is not modelled: the engine always
 * delivers, so stall(), the waiters on the peer's ring and NOTIFY are
 * left out, as are TX_RST, corrupt queues, hang-ups (a closed socket's
 * queue is pumped out on the hang-up), the wake-ups that the loop gives
 * a shard (new work, room in a peer's ring: they only add wake-ups) and
 * the bound on a turn (a turn takes any number of one queue's messages).
 * A token is a flag: v4vd's end is readable or not, and a token written
 * into a filled end (MSG_DONTWAIT) is dropped, which changes nothing
 * since the fill keeps it readable.  The senders end with a FIN unless
 * -DNO_FIN.
 *
 * Properties:
 *  - no_lost_wake: whenever the engine sleeps, each queue that holds a
 *    message (or has FIN set and has not ended) has a readable doorbell,
 *    or its sender is on its way to ring (between publishing tx or FIN
 *    and its token, or between draining its own doorbell and writing the
 *    token again).
 *  - no_lost_room: whenever a sender sleeps for room while its chunk
 *    fits, its doorbell is drained (its end writable) or the engine is
 *    on its way (between freeing the slot and its TX_WAITING check and
 *    drain).  A lost room is no deadlock here: arm_all drains an empty
 *    queue's doorbell before the engine sleeps, so it costs the sender
 *    up to the idle window (--copy-idle-us).
 *  - no deadlock: every run ends with all M + M1 messages consumed (and
 *    both queues ended, but with -DNO_FIN): when nothing else can move, `done`
 *    stays stuck otherwise, an invalid end state for pan without a claim.
 * Not a property: that a sender is never woken without room.  The engine
 * as written does that now and then: arm_all finds the queue empty, the
 * sender fills it and its doorbell and sleeps, arm_all drains.  The
 * sender fills again and sleeps; arm_all's look at tx_ptr after arming
 * keeps the engine awake.
 *
 * Variants (spin -D...):
 *  - NO_FIN:           the senders never shut down (a smaller model)
 *  - NO_FIN_RECHECK:   arm_all does not look at TX_FIN after arming.  It
 *                      loses the end of a stream: a FIN and its token
 *                      that come between copy_turn's look at TX_FIN and
 *                      arm_all's drain are drained, and the engine sleeps
 *                      with FIN unseen (no_lost_wake, deadlock).  This
 *                      was engine.c until the model found it; the fix
 *                      looks as bell.c rx_ended does for a receiver.
 * Deliberately broken variants, each must be caught:
 *  - NO_SEND_FENCE:    the sender's fence after publishing tx removed
 *  - NO_ARM_RECHECK:   arm_all arms without looking at tx_ptr again
 *  - DRAIN_AFTER_ARM:  arm_all drains last, after arming and its look at
 *                      tx_ptr: it can drain the token of an insert it did
 *                      not see.  (Draining between arming and the look
 *                      is safe: the look then sees any insert whose
 *                      token the drain took.)
 *  - NO_RETOKEN:       a send that drains its own fill does not write a
 *                      token again, and takes one a sleeping engine
 *                      needed (the bug fixed in room_again)
 *  - NO_ENGINE_FENCE:  the engine's fence after publishing rx removed
 *                      (no_lost_room only: see above)
 *  - NO_WAITING_AGAIN: sender_room does not set TX_WAITING again when the
 *                      chunk does not fit yet (needs CHUNK > 1)
 * And one that loses nothing:
 *  - ENGINE_DRAIN_BUSY: arm_all drains every doorbell before it looks for
 *                      pending data, so it empties a waiting sender's fill
 *                      while its queue is full.  The sender wakes for
 *                      nothing, fills again and sleeps (wait_room looks
 *                      at whether its end is writable), and arm_all stays
 *                      awake on the pending data: no check fails.  The
 *                      engine keeps a busy queue's doorbell for its
 *                      sender's sake (wake-ups with room, no fill and
 *                      drain loop), not for the wake-ups' sake.
 *
 * The variants that lose a wake-up run without FIN: a shutdown's token,
 * written whether ARMED or not, would wake the engine at the end and
 * hide the loss from the deadlock check (no_lost_wake still sees it).
 *
 * Checks (tests/model/check_model.sh): variant name, spin defines
 * (comma-separated, "-" for none), then the verdicts expected without a
 * claim (deadlock) and from each ltl claim in the order of this file:
 * no_lost_wake, no_lost_room ("-": not run, to save a search that shows
 * nothing new).
 *
 * check: correct           -                          ok ok ok
 * check: correct-N1        -DN=1,-DM=3,-DM1=1         ok ok ok
 * check: correct-chunk2    -DN=3,-DCHUNK=2,-DM=4      ok ok ok
 * check: NO_FIN            -DNO_FIN                   ok ok ok
 * check: NO_FIN_RECHECK    -DNO_FIN_RECHECK           error error -
 * check: NO_SEND_FENCE     -DNO_FIN,-DNO_SEND_FENCE error error -
 * check: NO_ARM_RECHECK    -DNO_FIN,-DNO_ARM_RECHECK error error -
 * check: DRAIN_AFTER_ARM   -DNO_FIN,-DDRAIN_AFTER_ARM error error -
 * check: NO_RETOKEN        -DNO_FIN,-DNO_RETOKEN error error -
 * check: NO_ENGINE_FENCE   -DNO_ENGINE_FENCE          ok - error
 * check: NO_WAITING_AGAIN  -DN=3,-DCHUNK=2,-DM=4,-DNO_WAITING_AGAIN ok - error
 * check: ENGINE_DRAIN_BUSY -DENGINE_DRAIN_BUSY        ok ok ok
 */

/* The senders shut down, and the engine looks for it after arming,
 * unless a variant says otherwise. */
#ifndef NO_FIN
#define FIN
#endif
#ifndef NO_FIN_RECHECK
#define FIN_RECHECK
#endif

#ifndef N
#define N 2
#endif
#ifndef M
#define M 3
#endif
#ifndef M1
#define M1 2		/* the second sender's messages */
#endif
#ifndef CHUNK
#define CHUNK 1
#endif
#define RING (N + 1)	/* one slot always stays empty */
#define MSGS(i) (i == 0 -> M : M1)

/* Shared memory, as memory holds it, per queue. */
byte mem_tx[2];		/* tx_ptr */
byte mem_rx[2];		/* rx_ptr */
bool armed[2] = 1;	/* rx_flags & RX_ARMED: hv_pump_start arms ... */
byte apos[2];		/* ... at 0: the position, modulo RING; it means
			 * nothing while ARMED is clear, and is kept 0
			 * then, for fewer states */
bool txw[2];		/* tx_flags & TX_WAITING */
bool fin[2];		/* tx_flags & TX_FIN */
/* The kernel: v4vd's end of each doorbell. */
bool tok[2];		/* holds a token */
bool unw[2];		/* holds a fill: the sender's end is unwritable */
/* Private positions: the value each thread last stored. */
byte p_tx[2];
byte c_rx[2];
/* The engine's own state. */
bool eof[2];		/* r->eof: FIN seen with the queue empty */
/* Ghost state for the properties. */
bool e_asleep;
bool s_asleep[2];
bool s_owe[2];		/* published tx or FIN, or drained: not rung yet */
bool e_owe[2];		/* freed a slot: TX_WAITING check not finished */

#define READABLE(i)	(!eof[i] && (tok[i] || unw[i]))
#define FREE(i)		(N - (p_tx[i] - mem_rx[i]))	/* as the sender sees it */
#define DRAIN(i)	atomic { tok[i] = 0; unw[i] = 0 }

/* The store buffers drain in their own time. */
active proctype flush()
{
end:	do
	:: atomic { mem_tx[0] < p_tx[0] -> mem_tx[0]++ }
	:: atomic { mem_tx[1] < p_tx[1] -> mem_tx[1]++ }
	:: atomic { mem_rx[0] < c_rx[0] -> mem_rx[0]++ }
	:: atomic { mem_rx[1] < c_rx[1] -> mem_rx[1]++ }
	od
}

/* End of a send call (room_again): a send that filled its doorbell
 * drains v4vd's end itself, which takes a token it wrote for a sleeping
 * engine with the fill, so it writes one again. */
inline room_again()
{
	if
	:: filled ->
		atomic { DRAIN(i); filled = 0; s_owe[i] = 1 };
#ifndef NO_RETOKEN
		atomic { tok[i] = 1; s_owe[i] = 0 }
#else
		s_owe[i] = 0
#endif
	:: else
	fi
}

proctype sender(byte i)
{
	bool filled;		/* s->filled */
	bool kick;
	byte start;

	do
	:: p_tx[i] == MSGS(i) ->
		room_again();
#ifdef FIN
		/* shutdown(SHUT_WR): the flag (locked), then a token */
		atomic { mem_tx[i] == p_tx[i] -> fin[i] = 1; s_owe[i] = 1 };
		atomic { tok[i] = 1; s_owe[i] = 0 };
#endif
		break
	:: p_tx[i] < MSGS(i) && FREE(i) > 0 ->
		/* v4v_ring_commit: publish tx (buffered) ... */
		atomic { start = p_tx[i]; p_tx[i]++; s_owe[i] = 1 };
		/* ... FENCE, then look at ARMED and take it by CAS (locked:
		 * it empties the buffer), only for an arm at the position
		 * where this message starts.  One step: the end of the fence
		 * is seen by nobody, and the CAS fails exactly when the
		 * word changed since the load. */
		atomic {
#ifndef NO_SEND_FENCE
			mem_tx[i] == p_tx[i];
#endif
			if
			:: armed[i] && apos[i] == start % RING ->
				mem_tx[i] == p_tx[i];
				armed[i] = 0; apos[i] = 0; kick = 1
			:: else -> s_owe[i] = 0
			fi;
			start = 0
		};
		if
		:: kick -> atomic { tok[i] = 1; kick = 0; s_owe[i] = 0 }
		:: else
		fi;
		/* The call ends here, or goes on with its next chunk. */
		if
		:: room_again()
		:: skip
		fi
	:: p_tx[i] < MSGS(i) && FREE(i) == 0 ->
		/* wait_room: make our end unwritable (bell_writable, then
		 * bell_fill: a drain between the two changes nothing) ... */
		atomic {
			if
			:: !filled || !unw[i] -> unw[i] = 1; filled = 1
			:: else
			fi
		};
		/* ... v4v_ring_want_space: announce (locked), look again */
		atomic { mem_tx[i] == p_tx[i] -> txw[i] = 1 };
		atomic {
			if
			:: FREE(i) >= CHUNK	/* retry */
			:: else -> s_asleep[i] = 1
			fi
		};
		if
		:: s_asleep[i] ->
			/* poll(POLLOUT); then a blocking send forgets its
			 * fill ("the peer emptied it"), an application that
			 * polled sends again with it */
			atomic {
				!unw[i] -> s_asleep[i] = 0;
				if
				:: filled = 0
				:: skip
				fi
			}
		:: else
		fi
	od
}

/* v4v_ring_consume and sender_room, for queue i. */
inline consume()
{
	atomic { c_rx[i]++; e_owe[i] = 1; work = 1 };
	/* FENCE, then look at TX_WAITING and take it (fetch_and, locked):
	 * one step, as for the sender's ARMED. */
	atomic {
#ifndef NO_ENGINE_FENCE
		mem_rx[i] == c_rx[i];
#endif
		if
		:: txw[i] -> mem_rx[i] == c_rx[i]; txw[i] = 0; was = 1
		:: else -> e_owe[i] = 0
		fi
	};
	if
	:: was ->
		/* sender_room; v4v_ring_chunk_fits reads tx_ptr */
		if
		:: N - (mem_tx[i] - c_rx[i]) >= CHUNK ->
			atomic { DRAIN(i); was = 0; e_owe[i] = 0 }
		:: else ->
#ifndef NO_WAITING_AGAIN
			atomic { txw[i] = 1; was = 0; e_owe[i] = 0 } /* fetch_or */
#else
			atomic { was = 0; e_owe[i] = 0 }
#endif
		fi
	:: else
	fi
}

/* arm_all; then asleep (e_asleep) if every queue not ended was armed
 * empty, else awake. */
inline arm_all()
{
	do
	:: i == 2 -> atomic { i = 0; e_asleep = 1 }; break
	:: i < 2 && eof[i] -> i++
	:: i < 2 && !eof[i] ->
#ifdef ENGINE_DRAIN_BUSY
		DRAIN(i);
#endif
		if
		:: mem_tx[i] != c_rx[i] -> i = 0; break	/* pending */
		:: else
		fi;
#if !defined(ENGINE_DRAIN_BUSY) && !defined(DRAIN_AFTER_ARM)
		DRAIN(i);
#endif
		/* v4v_ring_arm: ARMED at our position (CAS, locked) ... */
		atomic { mem_rx[i] == c_rx[i] ->
			 armed[i] = 1; apos[i] = c_rx[i] % RING };
#ifndef NO_ARM_RECHECK
		/* ... FENCE (the buffer is empty), look at tx again; data
		 * raced in: withdraw ARMED (fetch_and) and stay awake */
		if
		:: mem_tx[i] != c_rx[i] ->
			atomic { armed[i] = 0; apos[i] = 0; i = 0 };
			break
		:: else
		fi;
#endif
#ifdef DRAIN_AFTER_ARM
		DRAIN(i);
#endif
#ifdef FIN_RECHECK
		if
		:: fin[i] -> i = 0; break
		:: else
		fi;
#endif
		i++
	od
}

active proctype engine()
{
	byte i;
	bool work, was;

	do
	:: /* pass: every queue once (copy_turn).  TX_FIN is read
	    * before tx_ptr, so that a FIN set after the last insert is
	    * seen only once that insert is: as if both were read at once,
	    * which is one step here. */
		do
		:: i == 2 -> i = 0; break
		:: atomic { i < 2 && (eof[i] || mem_tx[i] == c_rx[i]) ->
			if
			:: fin[i] -> eof[i] = 1	/* end_of_queue */
			:: else
			fi;
			i++ }
		:: i < 2 && !eof[i] && mem_tx[i] != c_rx[i] ->
			consume();
			if
			:: skip		/* the turn goes on */
			:: i++
			fi
		od;
		if
		:: work -> work = 0
		:: else ->
			if
			:: skip		/* idle window not over: yield */
			:: arm_all();
				if
				:: e_asleep ->
end_asleep:				atomic { READABLE(0) || READABLE(1) ->
						 e_asleep = 0 }
				:: else
				fi
			fi
		fi
	od
}

init
{
	atomic { run sender(0); run sender(1) }
}

/* When nothing can move any more, every message must have gone through
 * (and with FIN, both queues must have ended); else this process stays
 * here, and pan without a claim reports an invalid end state. */
active proctype done()
{
	timeout;
#ifdef FIN
	p_tx[0] == M && p_tx[1] == M1 && c_rx[0] == M && c_rx[1] == M1 &&
	eof[0] && eof[1]
#else
	p_tx[0] == M && p_tx[1] == M1 && c_rx[0] == M && c_rx[1] == M1
#endif
}

#define LOST_WAKE(i)	(e_asleep && !eof[i] && \
			 (p_tx[i] != c_rx[i] || fin[i]) && \
			 !tok[i] && !unw[i] && !s_owe[i])
#define LOST_ROOM(i)	(s_asleep[i] && N - (p_tx[i] - c_rx[i]) >= CHUNK && \
			 unw[i] && !e_owe[i])

ltl no_lost_wake { [] !(LOST_WAKE(0) || LOST_WAKE(1)) }
ltl no_lost_room { [] !(LOST_ROOM(0) || LOST_ROOM(1)) }
