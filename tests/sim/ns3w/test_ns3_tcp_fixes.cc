/* The ns-3 3.37 TCP defect ns3w works around by interposing
 * TcpTxBuffer::NextSeg (sim/ns3w/ns3w_tcp_fix.cc), pinned on a bare transmit buffer:
 * with exactly a peer's window of data in flight, the library's NextSeg
 * still offers a new segment, which TcpSocketBase then sends as a 0-byte
 * read from the buffer and crashes on. The 10,000-node run hit it with
 * SACK on; control's slow-consumer test with SACK off. */
#include "sim/ns3w/ns3w.h"

#include <ns3/callback.h>
#include <ns3/packet.h>
#include <ns3/tcp-tx-buffer.h>

#include <criterion/criterion.h>
#include <dlfcn.h>

using namespace ns3;

namespace
{

constexpr uint32_t SEGMENT = 1000;

uint32_t peer_window(const uint32_t *rwnd)
{
	return *rwnd;
}

/* 10 segments queued from sequence 1, `in_flight` bytes of them sent, the
 * peer's window read from *rwnd. */
Ptr<TcpTxBuffer> buffer_with_in_flight(uint32_t in_flight, const uint32_t *rwnd)
{
	Ptr<TcpTxBuffer> tx = CreateObject<TcpTxBuffer>(1);
	tx->SetMaxBufferSize(64 * SEGMENT);
	tx->SetSegmentSize(SEGMENT);
	tx->SetDupAckThresh(3);
	tx->SetRWndCallback(MakeBoundCallback(&peer_window, rwnd));
	cr_assert(tx->Add(Create<Packet>(10 * SEGMENT)));
	for (uint32_t sent = 0; sent < in_flight; sent += SEGMENT)
		cr_assert_not_null(tx->CopyFromSequence(SEGMENT, SequenceNumber32(1 + sent)));
	return tx;
}

using next_seg_fn = bool (*)(const TcpTxBuffer *, SequenceNumber32 *, SequenceNumber32 *, bool);

/* The library's own NextSeg, behind the interposed one. */
next_seg_fn library_next_seg()
{
	auto fn = reinterpret_cast<next_seg_fn>(
	    dlsym(RTLD_NEXT, "_ZNK3ns311TcpTxBuffer7NextSegEPNS_14SequenceNumberIjiEES3_b"));
	cr_assert_not_null(fn, "libns3-internet's TcpTxBuffer::NextSeg not found");
	return fn;
}

/* A wrapper world: ns3w_world_new pulls in ns3w_tcp_fix.o (it calls
 * tcp_fix_check), which carries the interposed definition, so the buffer's
 * NextSeg below is ns3w's. */
struct ns3w_world *world_with_the_fix()
{
	struct ns3w_world_config wc = {};
	wc.seed = 1;
	struct ns3w_world *w = ns3w_world_new(&wc);
	cr_assert_not_null(w);
	return w;
}

} // namespace

Test(ns3_tcp_fixes, a_whole_window_in_flight_offers_no_new_segment)
{
	struct ns3w_world *w = world_with_the_fix();

	const uint32_t rwnd = 3 * SEGMENT;
	Ptr<TcpTxBuffer> tx = buffer_with_in_flight(3 * SEGMENT, &rwnd);
	SequenceNumber32 seq, high;
	/* The defect this guards against: ns-3 offers the 4th segment. */
	cr_assert(library_next_seg()(PeekPointer(tx), &seq, &high, false),
	          "ns-3's NextSeg no longer offers data past a full window: the ns3w "
	          "workaround may go");
	cr_assert_eq(seq.GetValue(), 1 + 3 * SEGMENT);
	/* What TcpSocketBase calls (through the PLT): nothing to send. */
	cr_assert_not(tx->NextSeg(&seq, &high, false));
	ns3w_world_free(w);
}

Test(ns3_tcp_fixes, new_data_is_still_offered_while_the_window_has_room)
{
	struct ns3w_world *w = world_with_the_fix();

	const uint32_t rwnd = 4 * SEGMENT;
	Ptr<TcpTxBuffer> tx = buffer_with_in_flight(3 * SEGMENT, &rwnd);
	SequenceNumber32 seq, high;
	cr_assert(tx->NextSeg(&seq, &high, false));
	cr_assert_eq(seq.GetValue(), 1 + 3 * SEGMENT);
	cr_assert_eq(tx->SizeFromSequence(seq), 7 * SEGMENT);
	ns3w_world_free(w);
}
